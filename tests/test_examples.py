"""The standalone example runs and learns (a few epochs, so the test stays fast)."""
import pathlib
import re
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_mlp.py"


def test_train_mlp_example_learns_the_spirals():
    result = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "40", "--seed", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    test_acc = float(re.search(r"^test accuracy (\S+)$", result.stdout, re.M).group(1))
    reloaded = float(re.search(r"^reloaded model's test accuracy (\S+)$", result.stdout, re.M).group(1))
    # Two interleaved spirals: chance is 0.5 and a linear boundary gets ~0.7;
    # 40 epochs of the 2-128-128-2 MLP reach 1.0 (0.95 leaves room for other seeds/BLAS).
    assert test_acc >= 0.95
    assert reloaded == test_acc
    assert len(re.findall(r"^MC dropout at", result.stdout, re.M)) == 4
