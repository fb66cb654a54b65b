"""Help messages that mean "I don't understand" / "I'm stuck", and ones that do not."""

from __future__ import annotations

import pytest

from mastery.domain.help_text import says_struggling

STRUGGLING = [
    "I don't understand",
    "i dont get it",
    "I'm totally lost",
    "I'm stuck",
    "im stuck on this loop",
    "can u explain again i dont understand",
    "I DO NOT UNDERSTAND LIST COMPREHENSIONS",
    "I don’t really get what a dictionary is for",
    "this makes no sense to me",
    "why doesn't this make sense",
    "I have no idea what I'm doing",
    "idk how to fix this",
    "I've been stuck here for ages",
    "so confused about scope",
    "I can't figure out why it crashes",
    "honestly I give up",
    "what am i doing wrong??",
    "still don't understand the error",
    "Could you explain that again please?",
    "im so lost rn",
    "I don't know how to start this exercise",
    "Help, I'm stuck with the while loop",
]

NOT_STRUGGLING = [
    "I understand now, thanks",
    "how do I open a file?",
    "What is the difference between a list and a tuple?",
    "Got it, thank you!",
    "I was stuck but I figured it out",
    "not stuck anymore :)",
    "Can you give me another exercise?",
    "that makes sense now",
    "Is there a faster way to sort a dictionary by value?",
    "I get it now",
    "Does range include the last number?",
    "ok I see, so the loop stops at n-1",
]


@pytest.mark.parametrize("text", STRUGGLING)
def test_messages_saying_stuck_or_lost_match(text: str) -> None:
    assert says_struggling(text)


@pytest.mark.parametrize("text", NOT_STRUGGLING)
def test_questions_and_resolved_confusion_do_not_match(text: str) -> None:
    assert not says_struggling(text)
