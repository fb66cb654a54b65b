"""Argument handling shared by the learning commands."""

from __future__ import annotations

import argparse

from mastery.learning.answers import COLUMNS


def add_log_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The answer-log path and the `--columns` mapping."""
    parser.add_argument(
        "answers", nargs=None if required else "?", help="CSV with one row per graded answer"
    )
    parser.add_argument(
        "--columns",
        default=",".join(COLUMNS),
        help="the CSV's names for student_id,skill_id,correct,order (ASSISTments 2009: "
        "user_id,skill_id,correct,order_id, which are also tried when the defaults are missing);"
        " a `timestamp` column (epoch seconds) is read when present",
    )
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="of the CSV; a file not valid in it is read as latin-1 (any file whose ids are ASCII)",
    )


def columns(value: str) -> tuple[str, ...]:
    """Parse `--columns` into four names."""
    names = tuple(name.strip() for name in value.split(","))
    if len(names) != 4 or not all(names):
        raise SystemExit("--columns needs four comma-separated names")
    return names
