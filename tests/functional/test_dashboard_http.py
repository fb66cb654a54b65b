"""What the dashboard needs from the API: ETags and 304s, its files under a strict policy, CORS."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from mastery.adapters.memory import MemorySink, MemoryStateStore
from mastery.config import ConfigError, JwtSettings, Settings
from mastery.entrypoints.core import Core
from mastery.entrypoints.http import ingest, predict, query
from mastery.web.auth import mint_token
from tests.asgi import serve
from tests.factories import event, raw

SECRET = "functional-test-secret-with-32-bytes!"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOPIC = "data_structures.lists"
DASHBOARD = "http://dash.example:8082"
PREDICT = "http://predict.example:8083"


@dataclass
class Engine:
    ingest: httpx.AsyncClient
    query: httpx.AsyncClient
    predict: httpx.AsyncClient

    async def deliver(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "__topic": "learning.events",
                   "__partition": "0", "__offset": "0", "__key": "s1"}  # fmt: skip
        response = await self.ingest.post("/learning-events", content=body, headers=headers)
        assert response.status_code == 200, response.text


def bearer(subject: str, role: str, classes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, role, classes)}"}  # type: ignore[arg-type]


TEACHER = bearer("t1", "teacher", ("c1",))


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    settings = Settings(
        jwt=JwtSettings(secret=SECRET),
        cors_allowed_origins=(DASHBOARD,),
        dashboard_predict_url=PREDICT,
    )
    store = MemoryStateStore()
    core = Core(settings=settings, store=store, dead_letters=MemorySink(), alerts=MemorySink(),
                clock=lambda: NOW)  # fmt: skip
    functions = (
        await ingest.create(core),
        await query.create(core),
        await predict.create(core),
    )
    async with serve(functions[0]) as i, serve(functions[1]) as q, serve(functions[2]) as p:
        engine = Engine(i, q, p)
        await engine.deliver(raw(event("class.enrolled", "s1", None, NOW, class_id="c1")))
        await engine.deliver(raw(event("quiz.completed", "s1", TOPIC, NOW, quiz_id="q1",
                                       correct=3, total=4)))  # fmt: skip
        yield engine


@pytest.mark.parametrize(
    "path",
    ["/v1/students/s1/mastery", f"/v1/students/s1/topics/{TOPIC}",
     "/v1/students/s1/history?days=7", "/v1/classes/c1/mastery"],
)  # fmt: skip
async def test_mastery_answers_are_304_until_the_record_changes(engine: Engine, path: str) -> None:
    first = await engine.query.get(path, headers=TEACHER)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')

    again = await engine.query.get(path, headers={**TEACHER, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    await engine.deliver(raw(event("quiz.completed", "s1", TOPIC, NOW, quiz_id="q2",
                                   correct=4, total=4)))  # fmt: skip
    changed = await engine.query.get(path, headers={**TEACHER, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.content != first.content


async def test_a_304_still_needs_the_right_to_read(engine: Engine) -> None:
    first = await engine.query.get("/v1/students/s1/mastery", headers=TEACHER)
    other = bearer("t2", "teacher", ("c2",))
    stolen = {**other, "If-None-Match": first.headers["etag"]}
    assert (await engine.query.get("/v1/students/s1/mastery", headers=stolen)).status_code == 403


async def test_class_view_carries_the_level_legend(engine: Engine) -> None:
    view = (await engine.query.get("/v1/classes/c1/mastery", headers=TEACHER)).json()
    bands = view["levels"]
    assert [b["level"] for b in bands] == ["Beginner", "Learning", "Proficient", "Mastered"]
    assert [b["colour"] for b in bands] == ["red", "yellow", "green", "blue"]
    assert bands[0]["min_score"] == 0
    assert bands[-1]["max_score"] == 100
    assert all(a["max_score"] + 1 == b["min_score"] for a, b in itertools.pairwise(bands))


async def test_dashboard_page_is_served_under_a_strict_policy(engine: Engine) -> None:
    page = await engine.query.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert f"connect-src 'self' {PREDICT};" in policy
    assert "frame-ancestors 'none'" in policy
    html = page.text
    assert f'data-predict="{PREDICT}"' in html
    assert "<script>" not in html
    assert "<style" not in html
    assert " style=" not in html
    for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        response = await engine.query.get(f"/dashboard/{asset}")
        assert response.headers["content-type"].startswith(kind)
        cached = await engine.query.get(
            f"/dashboard/{asset}", headers={"If-None-Match": response.headers["etag"]}
        )
        assert cached.status_code == 304
    redirect = await engine.query.get("/dashboard")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/dashboard/"


async def test_api_answers_keep_the_json_policy(engine: Engine) -> None:
    response = await engine.query.get("/v1/students/s1/mastery", headers=TEACHER)
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["cache-control"] == "no-store"


async def test_allowed_origin_gets_a_preflight_and_can_read_the_etag(engine: Engine) -> None:
    preflight = await engine.predict.options(
        "/v1/students/s1/forecast",
        headers={"Origin": DASHBOARD, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization, if-none-match"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert "if-none-match" in preflight.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in preflight.headers

    answer = await engine.predict.get(
        "/v1/students/s1/forecast", headers={**TEACHER, "Origin": DASHBOARD}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == DASHBOARD
    assert "etag" in answer.headers["access-control-expose-headers"]


async def test_other_origins_get_no_cors_headers(engine: Engine) -> None:
    evil = "http://evil.example"
    preflight = await engine.predict.options(
        "/v1/students/s1/forecast",
        headers={"Origin": evil, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    answer = await engine.predict.get(
        "/v1/students/s1/forecast", headers={**TEACHER, "Origin": evil}
    )
    assert "access-control-allow-origin" not in answer.headers
    assert answer.headers["vary"] == "Origin"


@pytest.mark.parametrize("value", ["*", "http://host/path", "ftp://host", "host:8080"])
def test_cors_allow_list_takes_only_origins(value: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
        Settings.from_env({"CORS_ALLOWED_ORIGINS": f"http://ok.example,{value}"})


def test_cors_and_dashboard_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({
        "CORS_ALLOWED_ORIGINS": " http://a.example:1 , https://b.example ",
        "DASHBOARD_PREDICT_URL": "http://p.example:2",
        "DASHBOARD_RECOMMEND_URL": "https://r.example",
    })  # fmt: skip
    assert settings.cors_allowed_origins == ("http://a.example:1", "https://b.example")
    assert settings.dashboard_predict_url == "http://p.example:2"
    assert settings.dashboard_recommend_url == "https://r.example"
