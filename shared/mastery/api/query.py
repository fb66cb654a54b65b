"""The query function: a student's mastery, one topic, daily history, and a class heat map."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mastery.api.access import authorize_class, authorize_student
from mastery.api.views import (
    ClassView,
    HistoryView,
    MasteryView,
    TopicView,
    class_row,
    history_point,
    mastery_view,
    topic_view,
)
from mastery.bootstrap import Core, build_core, http_function
from mastery.domain.events import Identifier
from mastery.domain.mastery import history, student_mastery
from mastery.domain.record import StudentRecord
from mastery.errors import NotFoundError
from mastery.http.function import HttpFunction
from mastery.http.problems import validation_problem
from mastery.http.routing import Call, Route
from mastery.services.students import load_roster, load_student, load_students

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def path_id(call: Call, name: str) -> str:
    """A validated id from the path (422 when it is not a valid id)."""
    try:
        return _IDENTIFIER.validate_python(call.path_params[name])
    except ValidationError as exc:
        raise validation_problem(exc, location=f"path.{name}") from exc


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, Field(ge=1, le=90)] = 30


class NoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")


def today_for(record: StudentRecord, core: Core) -> date:
    """Today in the student's time zone."""
    return record.local_day(core.clock())


async def readable_student(call: Call, core: Core) -> StudentRecord:
    """The student of the path, after checking the caller may read them."""
    student_id = path_id(call, "student_id")
    record, _ = await load_student(core.store, student_id)
    authorize_student(call.require_principal(), student_id, record)
    return record or StudentRecord(student_id=student_id)


def query_routes(core: Core) -> list[Route]:
    """The routes of the query function, bound to its core."""

    async def get_mastery(call: Call) -> MasteryView:
        record = await readable_student(call, core)
        mastery = student_mastery(record, core.curriculum, today_for(record, core), core.rules)
        return mastery_view(mastery, core.curriculum)

    async def get_topic(call: Call) -> TopicView:
        topic_id = call.path_params["topic_id"]
        if topic_id not in core.curriculum:
            raise NotFoundError(f"no topic {topic_id!r} in the curriculum")
        record = await readable_student(call, core)
        mastery = student_mastery(record, core.curriculum, today_for(record, core), core.rules)
        return topic_view(mastery.topic(topic_id), core.curriculum)

    async def get_history(call: Call) -> HistoryView:
        record = await readable_student(call, core)
        days = call.query_as(HistoryQuery).days
        points = history(record, core.curriculum, today_for(record, core), days, core.rules)
        return HistoryView(student_id=record.student_id, days=[history_point(p) for p in points])

    async def get_class(call: Call) -> ClassView:
        class_id = path_id(call, "class_id")
        authorize_class(call.require_principal(), class_id)
        roster, _ = await load_roster(core.store, class_id)
        records = await load_students(core.store, roster.members)
        today = core.clock().date()
        rows = [
            class_row(student_mastery(r, core.curriculum, r.local_day(core.clock()), core.rules))
            for r in records
            if class_id in r.enrolled_classes()
        ]
        return ClassView(
            class_id=class_id,
            as_of=today,
            topics=list(core.curriculum.topics),
            students=sorted(rows, key=lambda row: row.student_id),
        )

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


async def create(core: Core | None = None) -> HttpFunction:
    """The query function (built on its first request by functions/query/main.py)."""
    core = core or build_core(cached=True)
    return http_function("query", query_routes(core), core)
