"""The dashboard in headless Chromium against the engine as `make run` starts it.

Every figure the page shows is checked against the public API's answer for the same student
and topic, read with the same token.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, sync_playwright

from mastery.web.auth import mint_token
from tests.browser import INSTALL, chromium_path, launch
from tests.demo_run import DemoRun
from tests.integration.conftest import DEMO_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
CLASS_ID = "class-7b"
QUERY, PREDICT, RECOMMEND = 1, 2, 3
# Hue ranges (degrees) of the brief's level colours, whatever tint the style sheet picks.
HUES = {"red": [(0, 15), (345, 360)], "yellow": [(40, 65)], "green": [(90, 150)],
        "blue": [(195, 250)]}  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if chromium_path() is None:
        pytest.fail(f"no Chromium for the browser tests: run `{INSTALL}`", pytrace=False)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        # The browser logs the 401 and 403 answers of the tests that try what a token may not.
        if message.type == "error" and not re.search(r"status of 40[13]", message.text):
            problems.append(f"console: {message.text}")

    page.on("console", console)
    yield page
    context.close()
    assert problems == []  # no script error, no policy violation, no failed request


def api(demo: DemoRun, function: int, path: str, token: str) -> Any:
    response = httpx.get(demo.url(function) + path, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return response.json()


def teacher_token(demo: DemoRun) -> str:
    return demo.banner_value(r"^TEACHER_TOKEN=(\S+)$")


def open_dashboard(page: Page, demo: DemoRun, token: str) -> None:
    page.goto(f"{demo.url(QUERY)}/dashboard/#token={token}")


def shown_field(line: Locator, name: str) -> str:
    return line.locator(f'[data-field="{name}"]').text_content() or ""


def hue_of(css_colour: str) -> float:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_colour)[:3])
    hue, _, _ = colorsys.rgb_to_hls(red / 255, green / 255, blue / 255)
    return hue * 360


def assert_colour(css_colour: str, named: str) -> None:
    hue = hue_of(css_colour)
    assert any(low <= hue <= high for low, high in HUES[named]), f"{css_colour} is not {named}"


def test_make_run_url_opens_the_class_heat_map_matching_the_api(page: Page, demo: DemoRun) -> None:
    token = teacher_token(demo)
    open_dashboard(page, demo, token)
    page.wait_for_selector("#heat-map tbody tr")
    assert "token=" not in page.url  # taken out of the address bar
    view = api(demo, QUERY, f"/v1/classes/{CLASS_ID}/mastery", token)
    rows = page.locator("#heat-map tbody tr")
    shown = [rows.nth(i).get_attribute("data-student") for i in range(rows.count())]
    assert shown == [row["student_id"] for row in view["students"]]  # one row per student
    assert len(shown) == 30

    cells = page.eval_on_selector_all(
        "#heat-map tbody td[data-topic]",
        """cells => cells.map(cell => ({
            student: cell.parentElement.dataset.student, topic: cell.dataset.topic,
            score: cell.querySelector('.score').textContent,
            level: cell.querySelector('.level-name').textContent,
            background: getComputedStyle(cell).backgroundColor}))""",
    )
    assert len(cells) == 30 * len(view["topics"])
    answers = {s: api(demo, QUERY, f"/v1/students/{s}/mastery", token) for s in shown}
    for cell in cells:
        topic = next(t for t in answers[cell["student"]]["topics"] if t["topic"] == cell["topic"])
        assert int(cell["score"]) == topic["score"], cell
        assert cell["level"] == topic["level"], cell
        assert_colour(cell["background"], topic["colour"])


def test_sorting_by_a_topic_orders_the_rows_by_its_score(page: Page, demo: DemoRun) -> None:
    open_dashboard(page, demo, teacher_token(demo))
    page.wait_for_selector("#heat-map tbody tr")
    topic = "basics.variables"
    header = page.locator(f'#heat-map th[data-key="{topic}"]')
    header.locator("button").focus()
    page.keyboard.press("Enter")  # by keyboard
    descending = page.locator(f'#heat-map th[data-key="{topic}"]')
    assert descending.get_attribute("aria-sort") in {"ascending", "descending"}
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # visible focus on the control just used
    scores = [
        int(s)
        for s in page.locator(f'#heat-map td[data-topic="{topic}"] .score').all_text_contents()
    ]
    order = descending.get_attribute("aria-sort")
    assert scores == sorted(scores, reverse=order == "descending")


def test_a_row_opens_the_student_view_with_the_api_numbers(page: Page, demo: DemoRun) -> None:
    token = teacher_token(demo)
    open_dashboard(page, demo, token)
    page.wait_for_selector("#heat-map tbody tr")
    row = page.locator("#heat-map tbody tr").nth(4)
    student = row.get_attribute("data-student")
    row.locator("td").nth(3).click()
    page.wait_for_selector("#topics tbody tr")
    assert page.url.endswith(f"#/student/{student}")

    mastery = api(demo, QUERY, f"/v1/students/{student}/mastery", token)
    forecast = api(demo, PREDICT, f"/v1/students/{student}/forecast?horizon_days=7", token)
    history = api(demo, QUERY, f"/v1/students/{student}/history?days=30", token)
    advice = api(demo, RECOMMEND, f"/v1/students/{student}/recommendations?limit=10", token)
    outlooks = {t["topic"]: t for t in forecast["topics"]}
    for topic in mastery["topics"]:
        line = page.locator(f'#topics tr[data-topic="{topic["topic"]}"]')
        field = partial(shown_field, line)
        assert int(field("score")) == topic["score"]
        assert field("level") == topic["level"]
        for component, value in topic["components"].items():
            assert abs(int(field(component)) - value * 100) <= 0.5 + 1e-9, (
                topic["topic"],
                component,
            )
        outlook = outlooks[topic["topic"]]
        for name in ("p_next_correct", "p_mastered"):
            assert (
                abs(float(field(name).rstrip("%")) - outlook["learner"][name] * 100) <= 0.5 + 1e-9
            )
        if outlook["status"] == "ok":
            assert abs(float(field("forecast")) - outlook["forecast"]) <= 0.05 + 1e-9
            low, high = (float(x) for x in field("interval").split("–"))
            assert abs(low - outlook["interval"]["lower"]) <= 0.05 + 1e-9
            assert abs(high - outlook["interval"]["upper"]) <= 0.05 + 1e-9
            assert field("trend") == outlook["trend"]

    days = page.locator("#history-table tbody tr")
    assert days.count() == len(history["days"]) == 30
    assert page.locator("#history-chart circle").count() == 30
    last = history["days"][-1]
    assert days.nth(29).locator("td").first.text_content() == str(last["score"])
    assert f"({last['score']})" in (page.locator("#history-text").text_content() or "")
    reasons = page.locator("#recommendations .reason").all_text_contents()
    assert reasons == [item["reason"] for item in advice["recommendations"]]
    overall = page.locator("#forecast-overall").text_content() or ""
    if forecast["overall"]["status"] == "ok":
        shown = re.search(r"In 7 days: ([0-9.]+) \(interval ([0-9.]+)–([0-9.]+)\)", overall)
        assert shown is not None, overall
        expected = (forecast["overall"]["forecast"], *forecast["overall"]["interval"].values())
        for text, value in zip(shown.groups(), expected, strict=True):
            assert abs(float(text) - value) <= 0.05 + 1e-9, overall  # one decimal shown
        assert forecast["overall"]["trend"] in overall


def test_acknowledging_removes_the_alert_from_the_open_list(page: Page, demo: DemoRun) -> None:
    token = teacher_token(demo)
    open_dashboard(page, demo, token)
    page.wait_for_selector("#alerts li[data-alert]")
    student = page.locator("#alerts > li").first.get_attribute("data-student")
    item = page.locator("#alerts li[data-alert]").first
    alert_id = item.get_attribute("data-alert")
    item.locator("button").click()
    page.wait_for_selector(f'#alerts li[data-alert="{alert_id}"]', state="detached")
    still_open = api(demo, RECOMMEND, f"/v1/classes/{CLASS_ID}/alerts?status=open&limit=200", token)
    assert alert_id not in {a["id"] for a in still_open["alerts"]}
    done = api(
        demo, RECOMMEND, f"/v1/classes/{CLASS_ID}/alerts?status=acknowledged&limit=200", token
    )
    assert alert_id in {a["id"] for a in done["alerts"]}
    assert all(a["student_id"] == student for a in done["alerts"] if a["id"] == alert_id)
    page.reload()  # the next load agrees with the API
    page.wait_for_selector("#alerts li[data-alert]")
    assert page.locator(f'#alerts li[data-alert="{alert_id}"]').count() == 0


def test_polling_uses_conditional_requests(page: Page, demo: DemoRun) -> None:
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/classes/" in r.url and
            r.url.endswith("/mastery") else None)  # fmt: skip
    open_dashboard(page, demo, teacher_token(demo))
    page.wait_for_selector("#heat-map tbody tr")
    for _ in range(2):  # two polls (every 10 s): a write in between may change the first
        with page.expect_response(lambda r: r.url.endswith("/mastery"), timeout=20_000):
            pass
    assert statuses[0] == 200
    assert 304 in statuses[1:]


def test_a_student_token_cannot_see_the_class(page: Page, demo: DemoRun) -> None:
    token = demo.banner_value(r"^STUDENT_TOKEN=(\S+)$")
    open_dashboard(page, demo, token)
    page.wait_for_selector("#topics tbody tr")
    assert page.url.endswith("#/student/student-03")  # a student lands on their own view
    page.evaluate(f"location.hash = '#/class/{CLASS_ID}'")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#heat-map tbody tr").count() == 0
    denied = httpx.get(f"{demo.url(QUERY)}/v1/classes/{CLASS_ID}/mastery",
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert denied.status_code == 403


def test_an_expired_token_leads_back_to_sign_in(page: Page, demo: DemoRun) -> None:
    expired = mint_token(
        DEMO_SECRET, "teacher-1", "teacher", (CLASS_ID,), ttl=timedelta(seconds=-60)
    )
    open_dashboard(page, demo, expired)
    page.wait_for_selector("#sign-in:not([hidden])")
    # A token the API refuses (401) ends the session the same way.
    forged = mint_token("not-the-engine-secret-32-bytes-long", "teacher-1", "teacher", (CLASS_ID,))
    page.fill("#token", forged)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#sign-in:not([hidden])")
    page.wait_for_function(
        "() => /expired|refused/.test(document.getElementById('sign-in-message').textContent)"
    )
    assert page.evaluate("sessionStorage.length") == 0
