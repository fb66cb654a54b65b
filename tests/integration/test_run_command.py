"""`make run` end to end: the banner and its tokens, an agent's MCP session (the SDK's own
client, over HTTP) calling every tool, Ctrl-C to the group, a port already taken."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mastery.local.functions import LOCAL_AUTHORIZATION_SERVER
from mastery.local.kafka_broker import _tansu_binary
from mastery.web.auth import mint_token
from tests.demo_run import ROOT, DemoRun, free_range, start_demo
from tests.integration.conftest import DEMO_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
# What a stop used to print when the servers died before their clients.
NOISE = ("Traceback", "Error", "error", "Unclosed", "Connect call failed", "Exception")
GDPR, AGENTS, CONSUMER = 4, 5, 6  # port offsets from MASTERY_BASE_PORT


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
    assert httpx.get(f"{demo.url(CONSUMER)}/readyz").status_code == 200
    page_url = demo.banner_value(r"^  (http://\S+/dashboard/)#token=\S+$")
    assert demo.banner_value(r"/dashboard/#token=(\S+)$") == token  # the demo teacher
    page = httpx.get(page_url)
    assert page.status_code == 200
    assert "dashboard.js" in page.text


TOOL_CALLS: dict[str, dict[str, Any]] = {
    "get_student_mastery": {"student_id": "student-03"},
    "get_topic_mastery": {"student_id": "student-03", "topic": "basics.variables"},
    "get_student_history": {"student_id": "student-03", "days": 7},
    "get_student_forecast": {"student_id": "student-03", "horizon_days": 7},
    "get_student_recommendations": {"student_id": "student-03", "limit": 3},
    "list_class_alerts": {"class_id": "class-7b", "limit": 5},
}


async def test_an_agent_lists_and_calls_every_mcp_tool_as_the_teacher(demo: DemoRun) -> None:
    token = demo.banner_value(r"^TEACHER_TOKEN=(\S+)$")
    teacher = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    url = f"{demo.url(AGENTS)}/mcp"
    async with teacher, Client(streamable_http_client(url, http_client=teacher)) as agent:
        listed = await agent.list_tools()
        assert {tool.name for tool in listed.tools} == set(TOOL_CALLS)
        assert all(tool.output_schema for tool in listed.tools)
        results = {name: await agent.call_tool(name, args) for name, args in TOOL_CALLS.items()}
        unknown = await agent.call_tool("get_student_mastery", {"student_id": "not-in-class"})
        malformed = await agent.call_tool(
            "get_student_history", {"student_id": "student-03", "days": "many"}
        )
        bad_id = await agent.call_tool("get_student_mastery", {"student_id": "../admin"})
    # A teacher of another class: student-03 is outside the caller's classes.
    other = mint_token(DEMO_SECRET, "teacher-9", "teacher", ("class-9z",))
    stranger = httpx2.AsyncClient(headers={"Authorization": f"Bearer {other}"})
    async with stranger, Client(streamable_http_client(url, http_client=stranger)) as agent:
        outside = await agent.call_tool("get_student_mastery", {"student_id": "student-03"})
    for name, result in results.items():
        assert not result.is_error, (name, result.content)
        assert result.structured_content is not None, name
    async with httpx.AsyncClient() as http:
        direct = await http.get(f"{demo.url(1)}/v1/students/student-03/mastery",
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    # The same view as the HTTP API's
    assert results["get_student_mastery"].structured_content == direct.json()
    forecast = results["get_student_forecast"].structured_content
    assert forecast is not None
    assert {"p_next_correct", "p_mastered"} <= forecast["topics"][0]["learner"].keys()
    alerts = results["list_class_alerts"].structured_content
    assert alerts is not None
    assert alerts["class_id"] == "class-7b"
    # Refused and malformed calls are tool errors (isError), not HTTP or protocol failures.
    assert [outside.is_error, unknown.is_error, malformed.is_error, bad_id.is_error] == [True] * 4
    assert "Forbidden" in outside.content[0].text  # type: ignore[union-attr]
    assert "days" in malformed.content[0].text  # type: ignore[union-attr]


def test_mcp_without_a_token_points_to_the_protected_resource_metadata(demo: DemoRun) -> None:
    base = demo.url(AGENTS)
    refused = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge)
    assert metadata_url is not None, challenge
    metadata = httpx.get(metadata_url.group(1)).json()
    assert metadata["resource"] == f"{base}/mcp"
    assert metadata["authorization_servers"] == [LOCAL_AUTHORIZATION_SERVER]


def test_the_teachers_mcp_reads_are_audited(demo: DemoRun) -> None:
    admin = demo.banner_value(r"^ADMIN_TOKEN=(\S+)$")
    trail = httpx.get(f"{demo.url(GDPR)}/v1/audit", params={"student_id": "student-03"},
                      headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
    assert trail.status_code == 200
    reads = {e["what"] for e in trail.json()["entries"] if e["actor"] == "teacher-1"}
    assert reads >= {"GET /v1/students/student-03/forecast",
                     "GET /v1/students/student-03/recommendations"}  # fmt: skip


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
