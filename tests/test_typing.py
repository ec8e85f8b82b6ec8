"""The typed public API: mypy (configured in pyproject.toml) accepts the
package and a typed program over its public API (tests/typing/usage.py),
flags every wrong call of tests/typing/bad_usage.py, and sees the types of
an installed fastdrop (py.typed and the stub of the compiled module)."""
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path("tests", "typing")
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*?)  \[(?P<code>[a-z-]+)\]$")
EXPECTED = re.compile(r"#\s*E:\s*(?P<code>[a-z-]+)\s*$")


def mypy(*args, cwd, cache):
    """Run mypy; (exit status, [(path, line, code, message)], full output)."""
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--no-pretty",
                          "--no-error-summary", *args], cwd=cwd, capture_output=True, text=True)
    errors = [(m["path"], int(m["line"]), m["code"], m["message"])
              for m in map(ERROR.match, run.stdout.splitlines()) if m]
    return run.returncode, errors, run.stdout + run.stderr


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(scope="module")
def checked(cache):
    """One mypy run over the package and both samples, with the project's configuration."""
    return mypy("--config-file", "pyproject.toml", "fastdrop", str(SAMPLES / "usage.py"),
                str(SAMPLES / "bad_usage.py"), cwd=ROOT, cache=cache)


def errors_in(checked, prefix):
    status, errors, output = checked
    assert status in (0, 1), output          # 2: mypy itself failed
    return [e for e in errors if Path(e[0]).as_posix().startswith(prefix)]


def test_package_passes_mypy(checked):
    assert errors_in(checked, "fastdrop/") == [], checked[2]


def test_typed_usage_sample_passes_mypy(checked):
    assert errors_in(checked, f"{SAMPLES.as_posix()}/usage.py") == [], checked[2]


def test_mypy_flags_each_wrong_call_and_nothing_else(checked):
    lines = (ROOT / SAMPLES / "bad_usage.py").read_text().splitlines()
    expected = {(number, m["code"]) for number, line in enumerate(lines, 1) for m in [EXPECTED.search(line)] if m}
    found = {(line, code) for _, line, code, _ in errors_in(checked, f"{SAMPLES.as_posix()}/bad_usage.py")}
    assert found == expected, checked[2]
    [string_p] = [number for number, line in enumerate(lines, 1) if line.startswith('fd.dropout(x, "0.5")')]
    assert (string_p, "call-overload") in found


def test_typed_usage_sample_runs(tmp_path):
    # from a directory of its own, so that it imports the installed fastdrop
    shutil.copy(ROOT / SAMPLES / "usage.py", tmp_path)
    run = subprocess.run([sys.executable, "usage.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _installed_in_site_packages():
    import fastdrop
    site = {Path(sysconfig.get_path(key)).resolve() for key in ("purelib", "platlib")}
    return any(parent in site for parent in Path(fastdrop.__file__).resolve().parents)


def test_installed_package_is_typed_for_its_users(tmp_path, cache):
    """A user's mypy --strict sees the installed package's annotations (PEP 561)."""
    if not _installed_in_site_packages():
        pytest.skip("fastdrop is imported from its source tree (an editable install), which mypy does not "
                    "see as an installed package; CI installs the sdist and the wheel, where this runs")
    shutil.copy(ROOT / SAMPLES / "usage.py", tmp_path)
    shutil.copy(ROOT / SAMPLES / "bad_usage.py", tmp_path)
    status, errors, output = mypy("--strict", "--python-executable", sys.executable, "usage.py", "bad_usage.py",
                                  cwd=tmp_path, cache=cache)
    assert "missing library stubs or py.typed marker" not in output, output
    assert [e for e in errors if e[0] == "usage.py"] == [], output
    flagged = {code for path, _, code, _ in errors if path == "bad_usage.py"}
    assert "call-overload" in flagged and "arg-type" in flagged, output
