"""`fastdrop demo` end to end in --quick mode (needs the optional demo extra)."""
import json
import re

import pytest

from fastdrop import demo


def test_quick_demo_writes_every_output(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert demo.main(["--quick", "--out", str(out), "--epochs", "2"]) == 0

    for name in ("results.md", "results.json", "curves.png", "masks.png"):
        assert (out / name).stat().st_size > 0, name
    for name in ("curves.png", "masks.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = [line for line in (out / "results.md").read_text().splitlines()
            if re.match(r"\| \d\.\d \|", line)]
    assert [row.split("|")[1].strip() for row in rows] == ["0.0", "0.2", "0.5", "0.8"]

    results = json.loads((out / "results.json").read_text())
    assert set(results["results"]) == {"0.0", "0.2", "0.5", "0.8"}
    for r in results["results"].values():
        assert len(r["curves"]["val_loss"]) == 2          # one point per epoch
        final = r["final"]
        assert final["loss_gap"] == pytest.approx(final["val_loss"] - final["train_loss"])
        assert 0.0 <= final["val_acc"] <= 1.0
    assert set(results["findings"]) == {"gap_narrowed_at_0.2", "gap_narrowed_at_0.5", "underfits_at_0.8"}

    captured = capsys.readouterr()
    assert "| p | train loss" in captured.out and "p=0.8" in captured.out
    assert "100%" in captured.err                          # the progress bar ran to the end


def test_findings_are_computed_from_the_numbers():
    def run(train_loss, val_loss, train_acc, val_acc):
        return {"final": {"train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc,
                          "val_acc": val_acc, "loss_gap": val_loss - train_loss,
                          "acc_gap": train_acc - val_acc}}

    expected_pattern = {0.0: run(0.01, 0.50, 1.00, 0.90), 0.2: run(0.02, 0.30, 1.00, 0.93),
                        0.5: run(0.05, 0.25, 0.99, 0.94), 0.8: run(0.60, 0.70, 0.85, 0.80)}
    found, lines = demo.findings(expected_pattern)
    assert found["gap_narrowed_at_0.2"] == {"loss_gap": True, "accuracy_gap": True}
    assert found["underfits_at_0.8"] is True
    assert "it underfits" in "\n".join(lines)

    dropout_hurts = {0.0: run(0.01, 0.20, 1.00, 0.95), 0.2: run(0.01, 0.30, 1.00, 0.93),
                     0.5: run(0.01, 0.25, 1.00, 0.96), 0.8: run(0.01, 0.15, 1.00, 0.97)}
    found, lines = demo.findings(dropout_hurts)
    assert found["gap_narrowed_at_0.2"] == {"loss_gap": False, "accuracy_gap": False}
    assert found["gap_narrowed_at_0.5"] == {"loss_gap": False, "accuracy_gap": True}
    assert found["underfits_at_0.8"] is False
    assert "did not narrow" in "\n".join(lines)


def test_missing_optional_dependencies_give_a_clear_message(monkeypatch, capsys, tmp_path):
    import builtins
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    assert demo.main(["--quick", "--out", str(tmp_path / "never")]) == 2
    assert 'pip install "fastdropout[demo]"' in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        demo.main(["--epochs", "0"])
    assert info.value.code == 2
    assert "--epochs" in capsys.readouterr().err
