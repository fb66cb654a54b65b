"""The query function: a student's mastery, one topic, daily history, and a class heat map."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated

from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json
from starlette.responses import Response

from mastery.domain.curriculum import Curriculum
from mastery.domain.daily import daily_scores
from mastery.domain.mastery import MasteryRules, student_mastery
from mastery.entrypoints.core import Core, http_function
from mastery.entrypoints.http.access import authorize_class
from mastery.entrypoints.http.audited import read_audited, what_was_read
from mastery.entrypoints.http.dashboard import dashboard_routes
from mastery.entrypoints.http.memo import AnswerMemo, StudentVersion
from mastery.entrypoints.http.route_helpers import NoQuery, path_id, readable_version
from mastery.entrypoints.http.views import (
    ClassView,
    HistoryView,
    MasteryView,
    RenderedMastery,
    TopicView,
    class_row,
    class_view,
    history_view,
    render_mastery,
    topic_positions,
)
from mastery.errors import NotFoundError
from mastery.services.students import load_roster
from mastery.web.conditional import conditional_response
from mastery.web.function import HttpFunction
from mastery.web.routing import Call, Route


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, Field(ge=1, le=90)] = 30


def _etag(tag: str) -> str:
    return f'"{tag}"'


def rendered_mastery(
    version: StudentVersion, day: date, curriculum: Curriculum, rules: MasteryRules
) -> RenderedMastery:
    """The student's mastery, topics and heat-map row on `day`: one scoring, rendered once."""
    return version.answer(("mastery", day), lambda: render_mastery(
        student_mastery(version.scored(), curriculum, day, rules), curriculum))  # fmt: skip


def heat_map_row(
    version: StudentVersion, day: date, curriculum: Curriculum, rules: MasteryRules
) -> bytes:
    """The student's heat-map row on `day`: the rendered mastery's when there is one, else the
    row alone (a cold row renders none of the ~12 kB mastery body it does not show)."""
    found = version.answered(("mastery", day))
    if isinstance(found, RenderedMastery):
        return found.row
    return version.answer(("row", day), lambda: to_json(class_row(
        student_mastery(version.scored(), curriculum, day, rules))))  # fmt: skip


def query_routes(core: Core, memo: AnswerMemo | None = None) -> list[Route]:
    """The routes of the query function, bound to its core (answers memoised per version)."""
    memo = memo or AnswerMemo()
    class_views: LRUCache[str, tuple[str, bytes]] = LRUCache(256)  # class: (ETag, body)

    async def readable(call: Call) -> StudentVersion:
        return await readable_version(call, core, memo)

    positions = topic_positions(core.curriculum)

    def rendered(version: StudentVersion, day: date) -> RenderedMastery:
        return rendered_mastery(version, day, core.curriculum, core.rules)

    # Every answer carries an ETag from the record version (and the day it was scored for),
    # and is 304 Not Modified when the caller holds it already: dashboards poll.
    async def get_mastery(call: Call) -> Response:
        version = await readable(call)
        day = version.local_day(core.clock())
        body = rendered(version, day).body
        return conditional_response(call.request, _etag(version.tag(day)), body)

    async def get_topic(call: Call) -> Response:
        topic_id = call.path_params["topic_id"]
        if topic_id not in core.curriculum:
            raise NotFoundError(f"no topic {topic_id!r} in the curriculum")
        version = await readable(call)
        day = version.local_day(core.clock())
        body = rendered(version, day).topic(positions[topic_id])
        return conditional_response(call.request, _etag(version.tag(day)), body)

    async def get_history(call: Call) -> Response:
        version = await readable(call)
        days = call.query_as(HistoryQuery).days
        day = version.local_day(core.clock())

        def render() -> bytes:
            daily = daily_scores(version.scored(), core.curriculum, day, days, core.rules)
            return to_json(history_view(version.student_id, daily))

        body = version.answer(("history", days, day), render)
        return conditional_response(call.request, _etag(version.tag(day)), body)

    async def get_class(call: Call) -> Response:
        class_id = path_id(call, "class_id")
        authorize_class(call.require_principal(), class_id)
        roster, _ = await load_roster(core.store, class_id)
        versions = await read_audited(
            memo.load_many(core.store, roster.members),
            core, call.require_principal(), roster.members, what_was_read(call),
        )  # fmt: skip
        now = core.clock()
        today = now.date()
        rows = []
        # The class's ETag: the date and every row's student version and local day.
        tag = hashlib.blake2b(f"{class_id}/{today}".encode(), digest_size=12)
        for version in sorted(versions, key=lambda version: version.student_id):
            if class_id not in version.enrolled_classes():
                continue
            day = version.local_day(now)
            rows.append(heat_map_row(version, day, core.curriculum, core.rules))
            tag.update(f"/{version.student_id}/{version.tag(day)}".encode())
        digest = tag.hexdigest()
        last = class_views.get(class_id)
        if last is None or last[0] != digest:  # the same tag: the same rows, the same body
            body = class_view(class_id, today, list(core.curriculum.topics), rows)
            last = class_views[class_id] = (digest, body)
        return conditional_response(call.request, _etag(digest), last[1])

    return [
        Route("GET", "/v1/students/{student_id}/mastery", get_mastery,
              summary="A student's mastery: every topic, module and overall",
              query_params=NoQuery, response_model=MasteryView, tags=("mastery",)),
        Route("GET", "/v1/students/{student_id}/topics/{topic_id}", get_topic,
              summary="A student's mastery of one topic",
              query_params=NoQuery, response_model=TopicView, tags=("mastery",)),
        Route("GET", "/v1/students/{student_id}/history", get_history,
              summary="A student's daily mastery over the last `days` days",
              query_params=HistoryQuery, response_model=HistoryView, tags=("mastery",)),
        Route("GET", "/v1/classes/{class_id}/mastery", get_class,
              summary="Every enrolled student's overall and per-topic scores (heat map)",
              query_params=NoQuery, response_model=ClassView, tags=("classes",)),
    ]  # fmt: skip


async def create(core: Core) -> HttpFunction:
    """The query function, on `core` (`mastery.bootstrap.http_app`)."""
    return http_function("query", [*query_routes(core), *dashboard_routes(core.settings)], core)
