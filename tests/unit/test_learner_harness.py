"""The evaluation harness: metrics, baselines, the student split, and the commands end to end."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from mastery.learning import baselines, evaluate, fit, synthetic
from mastery.learning.answers import AnswerLogError, from_columns, read_answers
from mastery.learning.harness import evaluate as run_harness
from mastery.learning.harness import split_by_student
from mastery.learning.layout import history, time_major
from mastery.learning.metrics import auc, log_loss, score
from mastery.learning.params_io import load_params

OURS = "bkt_forget (ours)"


def test_auc_counts_every_positive_negative_pair_with_ties_as_half() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.4).astype(np.float64)
    scores = np.round(rng.random(300), 1)  # many ties
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for p, n in product(scores[labels == 1], scores[labels == 0])
    ]
    assert auc(labels, scores) == pytest.approx(np.mean(pairs))
    assert np.isnan(auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_per_skill_means_skip_skills_without_an_auc() -> None:
    labels = np.array([1.0, 0.0, 1.0, 1.0])
    scores = np.array([0.9, 0.1, 0.4, 0.6])
    result = score(labels, scores, np.array([0, 0, 1, 1]))
    assert result["auc_skill"] == 1.0  # skill 1 is all correct: no AUC
    assert result["log_loss_skill"] == pytest.approx(
        (log_loss(labels[:2], scores[:2]) + log_loss(labels[2:], scores[2:])) / 2
    )


def test_trend_line_is_the_least_squares_forecast_over_earlier_answers() -> None:
    data = synthetic.simulate(8, 2, 1, 12, seed=2)
    train, test = data.log, data.log
    forecast = baselines.trend_line(train, test)
    mean = train.correct.mean()
    for row in range(len(test)):
        same = (test.group == test.group[row]) & (np.arange(len(test)) < row)
        earlier = test.correct[same]
        if earlier.size == 0:
            expected = mean
        elif earlier.size == 1:
            expected = earlier[0]
        else:
            slope, intercept = np.polyfit(np.arange(earlier.size), earlier, 1)
            expected = np.clip(intercept + slope * earlier.size, 0, 1)
        assert forecast[row] == pytest.approx(expected, abs=1e-9)


def test_time_major_layout_and_history_keep_each_sequence_in_order() -> None:
    groups = np.array([2, 0, 2, 1, 2, 0], dtype=np.int64)
    layout = time_major(groups)
    steps = [groups[layout.rows[slice(*layout.step(t))]].tolist() for t in range(layout.steps)]
    assert steps == [[2, 0, 1], [2, 0], [2]]
    assert layout.rows[layout.bounds[1] :].tolist() == [2, 5, 4]
    count, total, _ = history(groups, np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0]))
    assert count.tolist() == [0, 0, 1, 0, 2, 1]
    assert total.tolist() == [0, 0, 1, 0, 1, 1]


def test_split_is_by_student_and_seeded() -> None:
    log = synthetic.simulate(50, 2, 1, 5, seed=1).log
    train, test = split_by_student(log, 0.2, seed=7)
    assert not set(train.student.tolist()) & set(test.student.tolist())
    assert len(set(test.student.tolist())) == 10
    again = split_by_student(log, 0.2, seed=7)[1]
    assert again.student.tolist() == test.student.tolist()
    assert split_by_student(log, 0.2, seed=8)[1].student.tolist() != test.student.tolist()


def test_our_model_beats_every_baseline_and_candidate_on_held_out_students() -> None:
    data = synthetic.simulate(500, 4, 5, 40, seed=3)
    report = run_harness(data.log, test_fraction=0.3, seed=1).by_model()
    ours = report.pop(OURS)
    assert set(report) == {"elo", "pfa", "constant (train mean)", "skill mean", "trend line (seed)"}
    for name, theirs in report.items():
        assert ours["auc"] > theirs["auc"] + 0.02, name
        assert ours["log_loss"] < theirs["log_loss"] - 0.01, name
        assert ours["rmse"] < theirs["rmse"], name


def test_answers_csv_is_read_with_a_column_mapping_and_empty_rows_dropped(tmp_path: Path) -> None:
    path = tmp_path / "assist.csv"
    path.write_text(
        "order_id,user_id,skill_id,correct\n3,u1,7,1\n1,u1,7,0\n2,u1,,1\n5,u2,8,1\n",
        encoding="utf-8",
    )
    log, dropped = read_answers(path, ("user_id", "skill_id", "correct", "order_id"))
    assert dropped == 1
    assert log.correct.tolist() == [0.0, 1.0, 1.0]  # u1 sorted by order, then u2
    assert [log.skill_ids[k] for k in log.skill] == ["7", "7", "8"]
    with pytest.raises(AnswerLogError):
        read_answers(path)
    with pytest.raises(AnswerLogError):
        from_columns(["a"], ["k"], [2.0], [1])


def test_commands_generate_fit_and_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers, truth, params, metrics = (
        tmp_path / name for name in ("a.csv", "truth.json", "params.json", "m.json")
    )
    common = ["--students", "120", "--skills", "3", "--seed", "4"]
    assert synthetic.main([str(answers), *common, "--truth", str(truth)]) == 0
    assert len(load_params(truth).topics) == 3
    assert fit.main([str(answers), "--out", str(params), "--compare", str(truth)]) == 0
    assert "largest |fitted - reference| over 3 skills" in capsys.readouterr().out
    assert set(load_params(params).topics) == set(load_params(truth).topics)
    chosen = ["--models", f"{OURS},pfa", "--params", str(truth)]
    assert evaluate.main([str(answers), "--json", str(metrics), *chosen]) == 0
    out = capsys.readouterr().out
    assert f"| {OURS} |" in out
    scores = json.loads(metrics.read_text(encoding="utf-8"))
    assert set(scores) == {OURS, "pfa", "bkt_forget (truth.json, not fitted)"}
    # Fitted on 96 students, ours comes close to the generating parameters themselves.
    truth_auc = scores["bkt_forget (truth.json, not fitted)"]["auc"]
    assert scores[OURS]["auc"] > truth_auc - 0.01
    with pytest.raises(SystemExit):
        evaluate.main([str(answers), "--models", "oracle"])
    with pytest.raises(SystemExit):
        evaluate.main([str(answers), "--columns", "a,b"])
    empty = tmp_path / "empty.csv"
    empty.write_text("student_id,skill_id,correct,order\n", encoding="utf-8")
    assert fit.main([str(empty), "--out", str(params)]) == 1


def test_unreadable_logs_are_answer_log_errors(tmp_path: Path) -> None:
    blank, bad = tmp_path / "blank.csv", tmp_path / "bad.csv"
    blank.write_text("", encoding="utf-8")
    bad.write_text("student_id,skill_id,correct,order\ns1,k1,yes,1\n", encoding="utf-8")
    for path in (blank, bad):
        with pytest.raises(AnswerLogError):
            read_answers(path)
