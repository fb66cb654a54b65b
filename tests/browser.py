"""Headless Chromium for the dashboard's tests: Debian's `chromium`, driven by playwright.

Playwright's own browser download cannot reach the internet here, so it launches the system
browser. Without one the tests fail with the command that installs it (`.ci/run` runs it).
"""

from __future__ import annotations

import os
import shutil

from playwright.sync_api import Browser, Playwright

INSTALL = "apt-get install -y chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """`CHROMIUM` if set, else Debian's chromium on PATH."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Playwright) -> Browser:
    """Start the system Chromium headless; an error naming the install command if absent."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError(f"no Chromium for the browser tests: run `{INSTALL}`")
    return playwright.chromium.launch(executable_path=executable, args=FLAGS)
