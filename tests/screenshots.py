"""Screenshots of the dashboard for README: the demo class and one student, as `make run` serves.

.venv/bin/python -m tests.screenshots     # writes docs/dashboard-class.png, -student.png
"""

from __future__ import annotations

from playwright.sync_api import sync_playwright

from tests.browser import launch
from tests.demo_run import ROOT, start_demo


def main() -> None:
    run = start_demo()
    try:
        url = run.banner_value(r"^  (http://\S+/dashboard/#token=\S+)$")
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.wait_for_selector("#heat-map tbody tr")
            page.screenshot(path=ROOT / "docs" / "dashboard-class.png")
            page.locator("#heat-map tbody tr").nth(2).locator("th a").click()
            page.wait_for_selector("#topics tbody tr")
            page.wait_for_selector("#recommendations li")
            page.screenshot(path=ROOT / "docs" / "dashboard-student.png", full_page=True)
            browser.close()
    finally:
        run.stop()
        run.stderr.close()


if __name__ == "__main__":
    main()
