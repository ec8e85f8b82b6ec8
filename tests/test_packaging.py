"""What a new user meets first: the distribution's name and metadata, the
install hints of the program and its documents, and the message of an
unbuilt source tree.

The wheel itself (manylinux tag, bundled OpenMP runtime, the suite run
against it) is built and checked by .ci/wheel, the editable install from
the clone root by .ci/run.
"""
import importlib.machinery
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastdrop as fd

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "fastdropout"
# "fastdrop" on PyPI is an unrelated file-sharing server: a hint naming it installs that
WRONG_HINT = re.compile(r"pip install\s+[\"']?fastdrop(?![\w-])")


def toml(path):
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomli before Python 3.11")
    with open(path, "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def metadata():
    return importlib.metadata.metadata(DISTRIBUTION)


def test_the_import_package_comes_from_the_fastdropout_distribution():
    # (a source tree on sys.path may add its egg-info: the same name again)
    assert set(importlib.metadata.packages_distributions()["fastdrop"]) == {DISTRIBUTION}
    assert importlib.metadata.version(DISTRIBUTION) == fd.__version__


def test_metadata_has_spdx_license_python_versions_and_urls(metadata):
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in metadata.get_all("License-File")
    classifiers = metadata.get_all("Classifier")
    versions = sorted((int(c.rsplit(".", 1)[1]) for c in classifiers
                       if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)))
    assert versions == list(range(versions[0], versions[-1] + 1)), "a gap in the Python versions"
    # the oldest version named is the one requires-python admits first
    assert metadata["Requires-Python"] == f">=3.{versions[0]}"
    assert {"Programming Language :: Cython", "Programming Language :: C", "Typing :: Typed"} <= set(classifiers)
    assert any(c.startswith("Operating System :: ") for c in classifiers)
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL"))
    assert {"Source", "Issues", "Documentation"} <= set(urls)


def test_license_file_is_bsd_3_clause():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, the fastdrop developers" in text


def test_example_plugin_depends_on_this_distribution():
    project = toml(ROOT / "plugins" / "fastdrop-example-plugin" / "pyproject.toml")["project"]
    names = {re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() for req in project["dependencies"]}
    assert DISTRIBUTION in names
    assert "fastdrop" not in names


def test_no_install_hint_names_the_unrelated_fastdrop_project():
    sources = [ROOT / "README.md", *(ROOT / "docs").rglob("*.rst"), *(ROOT / "fastdrop").rglob("*.py"),
               *(ROOT / "plugins").rglob("*.py"), *(ROOT / "plugins").rglob("*.md"), *(ROOT / ".ci").iterdir()]
    bad = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
           for path in sources if path.is_file()
           for number, line in enumerate(path.read_text().splitlines(), 1) if WRONG_HINT.search(line)]
    assert not bad, "install hints naming the distribution 'fastdrop':\n" + "\n".join(bad)
    assert WRONG_HINT.search('pip install "fastdrop[demo]"') and not WRONG_HINT.search("pip install fastdropout")


def test_version_option_prints_the_version(tmp_path):
    # from a directory of its own, so that the installed fastdrop answers
    run = subprocess.run([sys.executable, "-m", "fastdrop", "--version"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"fastdrop {fd.__version__}"


@pytest.mark.parametrize("how", ["python -c", "script in the clone root"])
def test_importing_the_unbuilt_source_tree_says_what_to_do(tmp_path, how):
    # a clone before any build: the package's sources without the compiled module
    shutil.copytree(ROOT / "fastdrop", tmp_path / "fastdrop",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "_kernels.c", "__pycache__", "include"))
    assert not list((tmp_path / "fastdrop").glob("_kernels.*.so"))
    # -S: no site-packages, so no installed fastdrop (an editable install's
    # import hook among them) can lend the copy its compiled module
    if how == "python -c":
        command = [sys.executable, "-S", "-c", "import fastdrop"]
    else:
        (tmp_path / "quickstart.py").write_text("import fastdrop as fd\n")
        command = [sys.executable, "-S", "quickstart.py"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1
    message = run.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: fastdrop's compiled core (fastdrop._kernels) is not built")
    assert str(tmp_path / "fastdrop") in message
    assert "pip install fastdropout" in message and "pip install -e ." in message
    assert "circular import" not in run.stderr


def test_a_compiled_module_that_fails_to_load_is_named_with_its_error(tmp_path):
    shutil.copytree(ROOT / "fastdrop", tmp_path / "fastdrop",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "_kernels.c", "__pycache__", "include"))
    # e.g. a build for another Python, or one that no longer links
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "fastdrop" / f"_kernels{suffix}").write_bytes(b"not a shared library")
    run = subprocess.run([sys.executable, "-S", "-c", "import fastdrop"], cwd=tmp_path, capture_output=True,
                         text=True)
    message = run.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: fastdrop's compiled core (fastdrop._kernels) in the source tree")
    assert "failed to load" in message and "pip install -e ." in message
    assert "_kernels" in message.split("failed to load:", 1)[1]   # the loader's own error

