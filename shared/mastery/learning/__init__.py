"""Offline learning for the learner model: fitting, evaluation against baselines, synthetic data.

Everything here works on whole answer logs with numpy; the online model itself lives in
`mastery.domain.learner`. Commands: `python -m mastery.learning.fit`, `.evaluate`, `.synthetic`.
"""
