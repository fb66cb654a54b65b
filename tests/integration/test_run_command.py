"""`make run` end to end: the banner and its tokens, Ctrl-C to the group, a port already taken."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from mastery.local.kafka_broker import _tansu_binary
from tests.demo_run import ROOT, DemoRun, free_range, start_demo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
# What a stop used to print when the servers died before their clients.
NOISE = ("Traceback", "Error", "error", "Unclosed", "Connect call failed", "Exception")


def test_banner_tokens_read_the_class_and_the_dashboard_url_signs_in(demo: DemoRun) -> None:
    assert "consumer lag 0" in demo.banner
    assert re.search(
        r"^  open alerts by trigger: +repeated_error \d+, stuck_on_exercise", demo.banner, re.M
    )
    token = demo.banner_value(r"^TEACHER_TOKEN=(\S+)$")
    view = httpx.get(f"{demo.url(1)}/v1/classes/class-7b/mastery",
                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert view.status_code == 200
    assert len(view.json()["students"]) == 30
    assert httpx.get(f"{demo.url(5)}/readyz").status_code == 200
    page_url = demo.banner_value(r"^  (http://\S+/dashboard/)#token=\S+$")
    assert demo.banner_value(r"/dashboard/#token=(\S+)$") == token  # the demo teacher
    page = httpx.get(page_url)
    assert page.status_code == 200
    assert "dashboard.js" in page.text


def test_ctrl_c_to_the_process_group_stops_everything_quietly_in_order() -> None:
    run = start_demo()
    try:
        run.signal_group(signal.SIGINT)
        code = run.process.wait(timeout=60)
        errors = run.errors()
    finally:
        run.stop()
        run.stderr.close()
    assert code in (0, 128 + signal.SIGINT), errors
    assert not [word for word in NOISE if word in errors], errors
    order = [errors.find(f"stopped {what}") for what in ("the functions", "the ingest consumer", "kafka", "redis")]  # fmt: skip
    assert -1 not in order, errors
    assert order == sorted(order), errors  # clients first, then the broker, then Redis
    assert run.ports_closed()


def test_a_port_in_use_ends_with_one_line_naming_it_and_the_setting() -> None:
    base = free_range()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))
        taken.listen()
        env = {**os.environ, "MASTERY_BASE_PORT": str(base)}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "mastery.local.run"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {base + 2} " in lines[0]
    assert "MASTERY_BASE_PORT" in lines[0]
    assert time.monotonic() - started < 30  # nothing was started first


def test_kafka_broker_runs_from_the_environment_not_the_home_folder() -> None:
    binary = _tansu_binary()
    assert binary.startswith(sys.prefix), binary
    assert not re.match(re.escape(os.path.expanduser("~")) + r"/\.", binary)
