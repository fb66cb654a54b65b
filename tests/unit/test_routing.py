"""The path matcher: a template's parameter is one path segment of printable text, and the
path must end where the template does."""

from __future__ import annotations

import pytest

from mastery.web.problems import ProblemError
from mastery.web.routing import Route, Router


async def _endpoint(call: object) -> dict[str, str]:
    return {}


ROUTER = Router(
    [
        Route("GET", "/v1/students/{student_id}/mastery", _endpoint),
        Route("GET", "/v1/students/{student_id}", _endpoint),
        Route("GET", "/healthz", _endpoint, auth=False),
    ]
)


def test_a_parameter_is_one_segment() -> None:
    matched = ROUTER.match("GET", "/v1/students/s-1/mastery")
    assert matched.path_params == {"student_id": "s-1"}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/students/s-1\n",  # `$` would have matched before the final newline
        "/v1/students/s-1/mastery\n",
        "/v1/students/s\n1/mastery",
        "/v1/students/s\x001",
        "/v1/students/s\x7f1",
        "/healthz\n",
        "/v1/students/a/b",
    ],
)
def test_a_path_with_a_control_character_or_more_names_nothing(path: str) -> None:
    with pytest.raises(ProblemError) as raised:
        ROUTER.match("GET", path)
    assert raised.value.status == 404
