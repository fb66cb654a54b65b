"""Reading and writing the learner params file (JSON, the format of `ModelParams.to_json`).

The functions load it at start-up (`LEARNER_PARAMS_PATH`); `mastery.learning.fit` writes it.
"""

from __future__ import annotations

from pathlib import Path

from mastery.domain.learner import LearnerParamsError, ModelParams


def load_params(path: str | Path | None) -> ModelParams:
    """The params in `path`, or the built-in defaults when `path` is None or empty."""
    if path is None or str(path) == "":
        return ModelParams()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LearnerParamsError(f"cannot read learner params {path}") from exc
    return ModelParams.from_json(text)


def save_params(params: ModelParams, path: str | Path) -> None:
    """Write `params` to `path` as JSON."""
    Path(path).write_text(params.to_json() + "\n", encoding="utf-8")
