"""The evaluation harness: metrics, baselines, the student split, and the commands end to end."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from mastery.learner_params import load_params
from mastery.learning import baselines, evaluate, fit, synthetic
from mastery.learning.answers import AnswerLogError, from_columns, read_answers, read_split
from mastery.learning.harness import OURS, rank_families, split_by_student
from mastery.learning.layout import history, time_major
from mastery.learning.metrics import auc, log_loss, score


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


# "Ties": within this much of the best other model, about the spread between seeds at this size.
TIE = {"auc": 0.003, "log_loss": 0.003}


def test_our_model_wins_or_ties_on_every_generator_family() -> None:
    reports = rank_families(240, 5, seed=4, test_fraction=0.3)
    assert set(reports) == {"bkt", "bkt_ability", "irt"}
    for family, report in reports.items():
        scores = report.by_model()
        ours = scores.pop(OURS)
        assert {"bkt_forget", "elo", "pfa", "best_lr (counts)", "trend line (seed)"} <= set(scores)
        best_auc = max(m["auc"] for m in scores.values())
        best_loss = min(m["log_loss"] for m in scores.values())
        assert ours["auc"] >= best_auc - TIE["auc"], family
        assert ours["log_loss"] <= best_loss + TIE["log_loss"], family
    # On data with student ability and forgetting (not its own BKT), it wins outright over BKT.
    irt = reports["irt"].by_model()
    assert irt[OURS]["auc"] > irt["bkt_forget"]["auc"] + 0.005


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
    assert log.time.tolist() == [0.0, 0.0, 0.0]  # no clock
    # The ASSISTments names stand in for the default ones.
    by_alias = read_answers(path)[0]
    assert (by_alias.correct.tolist(), by_alias.skill_ids) == ([0.0, 1.0, 1.0], log.skill_ids)
    with pytest.raises(AnswerLogError):
        read_answers(path, ("user_id", "skill", "correct", "order_id"))
    # Text columns in another encoding (as in the public ASSISTments file) do not stop it.
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "user_id,skill_id,correct,order_id,skill_name\nu1,7,1,1,Añgle\n".encode("latin-1")
    )
    assert read_answers(latin)[0].correct.tolist() == [1.0]
    with pytest.raises(AnswerLogError):
        from_columns(["a"], ["k"], [2.0], [1])
    with pytest.raises(AnswerLogError):
        from_columns(["a"], ["k"], [1.0], [1], [-5.0])


def test_an_explicit_split_shares_one_skill_coding_and_keeps_students_apart(
    tmp_path: Path,
) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    header = "student_id,skill_id,correct,order,timestamp\n"
    train.write_text(header + "u1,a,1,1,100\nu1,b,0,2,200\n", encoding="utf-8")
    test.write_text(header + "u1,c,1,1,50\nu2,a,0,1,70\n", encoding="utf-8")
    fitted, held_out, dropped = read_split(train, test)
    assert dropped == 0
    assert fitted.skill_ids == held_out.skill_ids == ("a", "b", "c")
    assert [held_out.skill_ids[k] for k in held_out.skill] == ["c", "a"]
    assert held_out.time.tolist() == [50.0, 70.0]
    assert not set(fitted.student.tolist()) & set(held_out.student.tolist())
    iso = tmp_path / "iso.csv"
    iso.write_text(header + "u9,a,1,1,2026-01-01T00:00:01\nu9,a,0,2,2026-01-01T01:00:01+01:00\n",
                   encoding="utf-8")  # fmt: skip
    assert read_answers(iso)[0].time.tolist() == [1_767_225_601.0, 1_767_225_601.0]
    garbled = tmp_path / "garbled.csv"
    garbled.write_text(header + "u9,a,1,1,yesterday\n", encoding="utf-8")
    with pytest.raises(AnswerLogError):
        read_answers(garbled)
    untimed = tmp_path / "untimed.csv"
    untimed.write_text("student_id,skill_id,correct,order\nu3,a,1,1\n", encoding="utf-8")
    with pytest.raises(AnswerLogError):
        read_split(train, untimed)


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
    out = capsys.readouterr().out
    assert "largest |fitted - reference| over 3 skills" in out
    assert "(converged: True)" in out
    assert set(load_params(params).topics) == set(load_params(truth).topics)
    chosen = ["--models", "bkt_forget,pfa", "--params", str(truth)]
    assert evaluate.main([str(answers), "--json", str(metrics), *chosen]) == 0
    assert "| bkt_forget |" in capsys.readouterr().out
    scores = json.loads(metrics.read_text(encoding="utf-8"))
    assert set(scores) == {"bkt_forget", "pfa", "bkt_logistic (truth.json, not fitted)"}
    # A BKT params file has BKT's weights: ours with it is the generating BKT itself, which
    # the fitted BKT comes close to.
    assert (
        scores["bkt_forget"]["auc"] > scores["bkt_logistic (truth.json, not fitted)"]["auc"] - 0.01
    )
    for bad in (["--models", "oracle"], ["--columns", "a,b"], [], ["--train", str(answers)],
                ["--synthetic", "gaussian"]):  # fmt: skip
        with pytest.raises(SystemExit):
            evaluate.main([*([str(answers)] if bad and bad[0] != "--train" else []), *bad])
    empty = tmp_path / "empty.csv"
    empty.write_text("student_id,skill_id,correct,order\n", encoding="utf-8")
    assert fit.main([str(empty), "--out", str(params)]) == 1


def test_the_acceptance_commands_fit_then_score_an_explicit_split_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers, params = tmp_path / "all.csv", tmp_path / "p.json"
    assert synthetic.main([str(answers), "--family", "irt", "--students", "90",
                           "--skills", "4", "--seed", "2"]) == 0  # fmt: skip
    lines = answers.read_text(encoding="utf-8").splitlines()
    test_ids = {"s000000", "s000001", "s000002"}
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text(
        "\n".join([lines[0]] + [r for r in lines[1:] if r.split(",")[0] not in test_ids])
    )
    test.write_text("\n".join([lines[0]] + [r for r in lines[1:] if r.split(",")[0] in test_ids]))
    assert fit.main([str(train), "--out", str(params)]) == 0
    capsys.readouterr()
    argv = ["--train", str(train), "--test", str(test), "--params", str(params), "--json"]
    assert evaluate.main([*argv, "--models", "bkt_forget"]) == 0
    captured = capsys.readouterr()
    scores = json.loads(captured.out)  # stdout is one JSON object; the table went to stderr
    assert "| bkt_forget |" in captured.err
    fixed = scores["bkt_logistic (p.json, not fitted)"]
    assert set(fixed) == {"auc", "rmse", "log_loss", "auc_skill", "rmse_skill",
                          "log_loss_skill", "seconds"}  # fmt: skip
    assert 0.5 < fixed["auc"] <= 1.0


def test_synthetic_ranking_command_prints_one_table_per_family(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--synthetic", "bkt,irt", "--students", "40", "--skills", "2",
            "--models", "elo,skill mean", "--json"]  # fmt: skip
    assert evaluate.main(argv) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"bkt", "irt"}
    assert "## irt" in captured.err


def test_unreadable_logs_are_answer_log_errors(tmp_path: Path) -> None:
    blank, bad = tmp_path / "blank.csv", tmp_path / "bad.csv"
    blank.write_text("", encoding="utf-8")
    bad.write_text("student_id,skill_id,correct,order\ns1,k1,yes,1\n", encoding="utf-8")
    for path in (blank, bad):
        with pytest.raises(AnswerLogError):
            read_answers(path)
