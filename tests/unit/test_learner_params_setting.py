"""LEARNER_PARAMS_PATH: the engine loads a fitted params file, or uses the built-in defaults."""

from __future__ import annotations

from pathlib import Path

from mastery.bootstrap import open_core
from mastery.config import Settings
from mastery.domain.knowledge import LearnerModel
from mastery.domain.learner import ModelParams, TopicParams
from mastery.learner_params import save_params


async def test_a_configured_params_file_is_what_every_function_uses(tmp_path: Path) -> None:
    fitted = ModelParams(topics={"data_structures.lists": TopicParams(p_init=0.42)})
    save_params(fitted, tmp_path / "params.json")
    settings = Settings.from_env({"LEARNER_PARAMS_PATH": str(tmp_path / "params.json")})
    core = await open_core(settings, lazy_sinks=True)
    try:
        assert settings.learner_params_path == str(tmp_path / "params.json")
        assert core.learner.stable.params == fitted
        assert core.learner.stable.for_topic("data_structures.lists").p_init == 0.42
    finally:
        await core.aclose()


async def test_without_the_setting_the_defaults_apply() -> None:
    core = await open_core(Settings.from_env({}), lazy_sinks=True)
    try:
        assert core.learner.stable.params == ModelParams()
        assert core.learner.stable.fingerprint == LearnerModel().fingerprint
    finally:
        await core.aclose()
