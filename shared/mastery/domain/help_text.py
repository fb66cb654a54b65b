"""Does a student's help message say "I don't understand" or "I'm stuck"? (DESIGN §1)

A few regular expressions over a normalised message (lower case, curly quotes and apostrophes
folded, "dont" = "don't" = "do not"), not one literal string: students write "idk", "im so lost",
"can u explain again i dont get it". A message that says the confusion is over ("I understand
now, thanks", "not stuck anymore") does not count, and neither does a plain how-to question.
"""

from __future__ import annotations

import re
from functools import cache

_APOSTROPHES = re.compile(r"['’`´]")
_NOT_WORDS = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
_NEGATION = r"(?:dont|do not|didnt|did not|doesnt|does not|cant|cannot|can not|still dont|dnt|not)"

# Compiled on first use (`_patterns`), not at import: only ingest reads help messages.
_STRUGGLING = r"|".join(
    [
        rf"\b{_NEGATION} (?:really |quite |fully |even )?(?:understand|get|see|follow|know how|know what|know why|know where)\b",
        r"\b(?:not|no longer) understanding\b",
        r"\b(?:im|i am|ive been|i have been|been|still|so|really|totally|completely|getting|got) (?:so |really |totally |completely )?stuck\b",
        r"\bstuck (?:on|with|again|here|at)\b",
        r"\b(?:im|i am|so|totally|completely|really|feel|feeling) (?:so |totally |completely |really )?(?:lost|confused)\b",
        r"\bconfus(?:ed|ing)\b",
        r"\b(?:makes|make) no sense\b",
        r"\b(?:doesnt|does not|dont|do not)(?: this| it| that)? make (?:any )?sense\b",
        r"\b(?:no|zero) (?:idea|clue)\b",
        r"\b(?:idk|dunno)\b",
        r"\b(?:cant|cannot|can not) (?:figure|work) (?:it |this |that )?out\b",
        r"\bexplain (?:it |this |that )?again\b",
        r"\bi give up\b",
        r"\bwhat am i doing wrong\b",
        r"\bover my head\b",
    ]
)

_RESOLVED = r"|".join(
    [
        r"\b(?:i|now i) (?:understand|get it|see)\b(?! why)(?!.*\b(?:dont|not|cant|stuck|lost|confused)\b)",
        r"\b(?:understand|get) it now\b",
        r"\bmakes sense now\b",
        r"\bfigured (?:it |this |that )?out\b",
        r"\b(?:not|no longer|wasnt|was not) (?:stuck|confused|lost)\b",
        r"\bunstuck\b",
        r"\b(?:stuck|confused|lost) (?:anymore|any more)\b",
    ]
)


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped, punctuation as spaces, single spaces."""
    text = _APOSTROPHES.sub("", text.lower())
    return _SPACES.sub(" ", _NOT_WORDS.sub(" ", text)).strip()


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    return re.compile(_STRUGGLING), re.compile(_RESOLVED)


def says_struggling(text: str) -> bool:
    """True when `text` means "I don't understand" / "I'm stuck" (and not that it is over)."""
    words = normalise(text)
    struggling, resolved = _patterns()
    return bool(struggling.search(words)) and not resolved.search(words)
