"""`fastdrop demo`: every experiment end to end in --quick mode, and the pieces the numbers go through.

The end-to-end tests need the optional demo extra (scikit-learn,
matplotlib, tqdm, threadpoolctl) and skip without it.
"""
import io
import json
import math
import re
import sys

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import demo
from fastdrop.demo import cli, report
from fastdrop.demo.training import MaskRecorder, Progress, compute_threads

QUICK_EXPERIMENTS = list(cli.EXPERIMENTS)
PNG = b"\x89PNG\r\n\x1a\n"


def needs_demo_extra():
    for module in ("sklearn", "matplotlib", "tqdm", "threadpoolctl"):
        pytest.importorskip(module)


def table_rows(markdown):
    """The label and cells of each data row of the results table."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def all_finite(value):
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(all_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Each experiment once in --quick mode (2 runs per arm, 3 epochs), its stdout and stderr."""
    needs_demo_extra()
    out = tmp_path_factory.mktemp("demo")
    runs = {}
    for name in QUICK_EXPERIMENTS:
        stdout, stderr = io.StringIO(), io.StringIO()
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        try:
            status = demo.main([name, "--quick", "--out", str(out)])
        finally:
            sys.stdout, sys.stderr = old
        runs[name] = {"status": status, "dir": out / name, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
    return runs


@pytest.mark.parametrize("name", QUICK_EXPERIMENTS)
def test_quick_run_writes_the_table_the_json_and_the_picture(quick_runs, name):
    run = quick_runs[name]
    assert run["status"] == 0
    folder = run["dir"]
    results = json.loads((folder / "results.json").read_text())
    assert (folder / "results.png").read_bytes()[:8] == PNG

    rows = table_rows((folder / "results.md").read_text())
    assert [row[0] for row in rows] == results["arms"]
    assert len(results["arms"]) >= 2 and results["baseline"] == results["arms"][0]
    for row in rows:                                   # every cell of the table is a number
        for cell in row[1:]:
            assert re.fullmatch(r"-?\d+\.\d+(%| pts)?( ± \d+\.\d+)?", cell), cell
    assert "| " + " | ".join(rows[0]) + " |" in run["stdout"]      # the table is printed too

    assert set(results["results"]) == set(results["arms"])
    for label, result in results["results"].items():
        assert len(result["curves"]["val_loss"]) == results["settings"]["epochs"] == 3
        assert result["curves"]["epoch"] == [1, 2, 3]
        assert all_finite(result["final"]) and all_finite(result["curves"]), label
        final = result["final"]
        assert final["loss_gap"] == pytest.approx(final["val_loss"] - final["train_loss"])
        assert 0.0 <= final["val_acc"] <= 1.0 and final["train_loss"] > 0
        assert len(result["per_run"]["val_loss"]) == 2
    against_baseline = {f"{arm} vs {results['baseline']}" for arm in results["arms"][1:]}
    assert against_baseline <= set(results["comparison"])
    for label, found in results["comparison"].items():
        assert found["val_loss"]["runs"] == 2 and all_finite(found["val_loss"]), label
        assert found["val_loss"]["low"] <= found["val_loss"]["mean"] <= found["val_loss"]["high"]
    md = (folder / "results.md").read_text()
    assert "dropout off" in md and all(f"- {pair}:" in md for pair in results["comparison"])


def test_quick_mlp_states_its_findings_and_draws_the_masks(quick_runs):
    run = quick_runs["mlp"]
    results = json.loads((run["dir"] / "results.json").read_text())
    assert results["arms"] == ["p = 0", "p = 0.2", "p = 0.5", "p = 0.8"]
    assert set(results["notes"]) == {"gap_narrowed_at_0.2", "gap_narrowed_at_0.5", "underfits_at_0.8"}
    assert "p = 0.8: train accuracy" in run["stdout"]
    assert (run["dir"] / "masks.png").read_bytes()[:8] == PNG


def test_progress_in_a_log_is_plain_lines(quick_runs):
    err = quick_runs["mlp"]["stderr"]
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("mlp:")]
    assert len(lines) == 20 and "100%" in lines[-1] and "24/24" in lines[-1]


def test_progress_on_a_terminal_is_a_live_bar_with_the_time_left():
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(4, "demo", stream=stream)
    for epoch in range(4):
        progress.update(f"arm, epoch {epoch}")
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "4/4" in text
    assert re.search(r"<\d\d:\d\d", text)          # tqdm's estimate of the time left


def test_compute_threads_sets_blas_and_fastdrop_threads_and_restores_them():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = fd.get_num_threads()
    with compute_threads(1):
        assert fd.get_num_threads() == 1
        for pool in threadpoolctl.threadpool_info():
            assert pool["num_threads"] == 1, pool
    assert fd.get_num_threads() == before


def test_the_same_seed_gives_the_same_numbers(tmp_path, capsys):
    needs_demo_extra()
    numbers = []
    for folder in ("a", "b"):
        assert demo.main(["mlp", "--quick", "--epochs", "2", "--out", str(tmp_path / folder)]) == 0
        numbers.append(json.loads((tmp_path / folder / "mlp" / "results.json").read_text())["results"])
    assert numbers[0] == numbers[1]
    assert demo.main(["mlp", "--quick", "--epochs", "2", "--seed", "1", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "mlp" / "results.json").read_text())["results"] != numbers[0]


def test_a_diverged_run_is_reported_not_hidden():
    """A run whose training loss stops being finite counts with NaN, and the report says so."""
    pytest.importorskip("tqdm")                          # the progress display it counts on
    from fastdrop import graph as G
    from fastdrop.demo.experiment import Arm, Data, Experiment
    from fastdrop.demo.training import run_experiment

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    data = Data(x, rng.integers(0, 3, 64), x, rng.integers(0, 3, 64), "noise", classes=3)

    def sane(init, generator):
        return G.Sequential([G.Linear(4, 8, rng=init), G.ReLU(), G.Linear(8, 3, rng=init)])

    def wild(init, generator):
        model = sane(init, generator)
        for layer in (model[0], model[2]):
            layer.weight.data *= 1e30                   # float32 logits overflow: the loss is NaN
        return model

    exp = Experiment(name="t", title="t", setup="t", data=data, arms=[Arm("sane", sane), Arm("wild", wild)],
                     epochs=4, repeats=2, batch_size=16, make_optimizer=lambda params: G.SGD(params, lr=0.05))
    stream = io.StringIO()
    with np.errstate(all="ignore"):
        results = run_experiment(exp, 0, Progress(16, "t", stream=stream))
    assert "16/16" in stream.getvalue()                # the skipped epochs count as done
    assert results["sane"]["diverged"] == 0 and all_finite(results["sane"]["final"])
    assert results["wild"]["diverged"] == 2
    assert math.isnan(results["wild"]["final"]["val_loss"])
    found, lines = report.compare(exp, results)
    assert found["wild vs sane"]["val_loss"]["verdict"] == "no finite result"
    assert any("wild: 2 of 2 runs diverged" in line for line in lines)
    assert "nan" in "\n".join(report.table(exp, results))


def _final(train_loss, val_loss, train_acc, val_acc):
    return {"final": {"train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc, "val_acc": val_acc,
                      "loss_gap": val_loss - train_loss, "acc_gap": train_acc - val_acc}}


def test_mlp_notes_are_computed_from_the_numbers():
    from fastdrop.demo.mlp import notes

    expected_pattern = {"p = 0": _final(0.01, 0.50, 1.00, 0.90), "p = 0.2": _final(0.02, 0.30, 1.00, 0.93),
                        "p = 0.5": _final(0.05, 0.25, 0.99, 0.94), "p = 0.8": _final(0.60, 0.70, 0.85, 0.80)}
    found, lines = notes(expected_pattern)
    assert found["gap_narrowed_at_0.2"] == {"loss_gap": True, "accuracy_gap": True}
    assert found["underfits_at_0.8"] is True
    assert "it underfits" in "\n".join(lines)

    dropout_hurts = {"p = 0": _final(0.01, 0.20, 1.00, 0.95), "p = 0.2": _final(0.01, 0.30, 1.00, 0.93),
                     "p = 0.5": _final(0.01, 0.25, 1.00, 0.96), "p = 0.8": _final(0.01, 0.15, 1.00, 0.97)}
    found, lines = notes(dropout_hurts)
    assert found["gap_narrowed_at_0.2"] == {"loss_gap": False, "accuracy_gap": False}
    assert found["gap_narrowed_at_0.5"] == {"loss_gap": False, "accuracy_gap": True}
    assert found["underfits_at_0.8"] is False
    assert "did not narrow" in "\n".join(lines)


def test_paired_difference_is_a_student_t_interval():
    pytest.importorskip("scipy")
    diff = report.paired_difference([2.0, 4.0, 6.0], [0.0, 1.0, 2.0])    # differences 2, 3, 4: sd 1
    half = 4.302652729911275 / math.sqrt(3)                                # t(0.975, 2 dof) * sd / sqrt(3)
    assert diff["mean"] == pytest.approx(3.0)
    assert (diff["low"], diff["high"]) == pytest.approx((3.0 - half, 3.0 + half))
    assert report._verdict(diff, lower_is_better=True) == "worse"
    assert report._verdict(diff, lower_is_better=False) == "better"
    straddles = report.paired_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])  # mean 2 < half 2.48
    assert report._verdict(straddles, lower_is_better=True) == "no clear difference"
    one = report.paired_difference([1.0], [0.0])
    assert one["runs"] == 1 and report._verdict(one, True) == "one run, no interval"
    nan = report.paired_difference([float("nan"), 1.0, 2.0], [0.0, 0.0, 0.0])
    assert nan["runs"] == 2 and nan["mean"] == pytest.approx(1.5)


def test_keep_pattern_is_what_the_layer_kept():
    """The page's masks match the zeros of each variant's output, for broadcast and block masks."""
    recorder = MaskRecorder(steps=3, units=64)
    fd.register(recorder)
    try:
        x = np.ones((2, 6, 8, 8), np.float32)
        for name, kwargs in (("dropout", {"p": 0.5}), ("spatial2d", {"p": 0.5}),
                             ("dropblock2d", {"p": 0.3, "block_size": 3})):
            layer = fd.layer(name, generator=fd.Generator(1), **kwargs)
            recorder.watch(name, [(name, layer)])
            y = layer(x)
            recorder.stop()
            kept = recorder.masks[name][name][0]
            assert kept.shape == (6, 8, 8), name
            np.testing.assert_array_equal(kept, y[0] != 0, err_msg=name)
            assert 0 < kept.mean() < 1, name
    finally:
        fd.unregister(recorder)


def test_missing_optional_dependencies_give_the_install_hint(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "sklearn", None)       # makes `import sklearn` raise ImportError
    assert demo.main(["--quick", "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "fastdropout[demo]"' in err and "scikit-learn" in err
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("argv, word", [(["--epochs", "0"], "--epochs"), (["--repeats", "-1"], "--repeats"),
                                        (["--threads", "0"], "--threads"), (["--seed", "-2"], "--seed"),
                                        (["nosuch"], "EXPERIMENT")])
def test_bad_arguments_exit_with_usage(capsys, argv, word):
    with pytest.raises(SystemExit) as info:
        demo.main(argv)
    assert info.value.code == 2
    assert word in capsys.readouterr().err


def test_help_is_plain_text_with_defaults_and_every_experiment(capsys):
    from fastdrop.__main__ import main as fastdrop_main

    with pytest.raises(SystemExit) as info:
        fastdrop_main(["demo", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    for name in list(cli.EXPERIMENTS) + ["all"]:
        assert re.search(rf"^  {name} ", text, re.M), name
    for option in ("--out", "--epochs", "--repeats", "--seed", "--threads"):
        help_line = text[text.index(option):].split("\n  -")[0]
        assert "default" in help_line, option
    assert 'pip install "fastdropout[demo]"' in text


def test_quick_batchnorm_reports_the_variance_shift(quick_runs):
    results = json.loads((quick_runs["batchnorm"]["dir"] / "results.json").read_text())
    shifts = {label: r["final"]["variance_shift"] for label, r in results["results"].items()}
    assert all(shift > 0 for shift in shifts.values())
    assert "variance shift" in (quick_runs["batchnorm"]["dir"] / "results.md").read_text()


def test_variance_shift_of_dropout_right_before_batch_norm():
    """Inverted dropout at p = 0.5 doubles E[x**2]: for N(0, 1) inputs the running variance
    BatchNorm learns in training is 2, the variance it sees in evaluation 1."""
    from fastdrop import graph as G
    from fastdrop.demo.batchnorm import variance_shift
    from fastdrop.demo.experiment import Data

    rng = np.random.default_rng(0)
    x_val = rng.normal(size=(20000, 4)).astype(np.float32)
    data = Data(x_val[:10], np.zeros(10, np.int64), x_val, np.zeros(len(x_val), np.int64), "normal")
    for p, expected in ((0.5, 2.0), (0.0, 1.0)):
        model = G.Sequential([G.Dropout(p, generator=fd.Generator(1)), G.BatchNorm(4), G.Linear(4, 2, rng=0)])
        for _ in range(200):                             # running statistics converge (momentum 0.1)
            model(rng.normal(size=(1000, 4)).astype(np.float32))
        # running variance: an average of about 19 batch variances of 1000 values, about 1.5%
        # relative error at p = 0.5 (heavier tails); 5% is over 3 sigma
        assert variance_shift(model, data)["variance_shift"] == pytest.approx(expected, rel=0.05), p


def test_token_task_labels_follow_the_rule_and_training_labels_are_noisy():
    from fastdrop.demo.data import token_task

    data = token_task(2000, 2000, seed=3, vocab=64, length=16, cue_words=16, noise=0.1)
    assert data.x_train.shape == (2000, 16) and data.x_val.shape == (2000, 16)

    def rule(ids):
        sign = np.where(ids < 16, 1, np.where(ids < 32, -1, 0))
        flipped = np.zeros_like(sign, dtype=bool)
        flipped[:, 1:] = ids[:, :-1] == 63
        score = np.where(flipped, -sign, sign).sum(axis=1)
        assert (score != 0).all()
        return (score > 0).astype(np.int64)

    np.testing.assert_array_equal(data.y_val, rule(data.x_val))     # validation labels are clean
    flipped = np.mean(data.y_train != rule(data.x_train))
    assert flipped == pytest.approx(0.1, abs=0.027)    # binomial sd sqrt(0.1 * 0.9 / 2000) = 0.0067: 4 sigma
    assert 0.3 < data.y_val.mean() < 0.7                # both classes occur


def test_add_position_gradient_matches_finite_differences():
    from fastdrop.demo.attention import AddPosition

    layer = AddPosition(3, 2, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(4, 3, 2))
    weights = np.random.default_rng(2).normal(size=(4, 3, 2))
    layer.position.zero_grad()
    dx = layer.backward(weights)
    np.testing.assert_array_equal(dx, weights)
    eps = 1e-3
    for index in np.ndindex(3, 2):
        layer.position.data[index] += eps
        up = float(np.sum(layer(x) * weights))
        layer.position.data[index] -= 2 * eps
        down = float(np.sum(layer(x) * weights))
        layer.position.data[index] += eps
        # float32 positions: central differences good to about 1e-3 here
        assert layer.position.grad[index] == pytest.approx((up - down) / (2 * eps), rel=1e-2, abs=1e-2)
