"""The documentation: the Sphinx site in docs/ builds with warnings as
errors, every example in it (pages and docstrings) runs through Sphinx's
doctest builder, the API reference covers every public name, and the
README's Python code runs as written.

The site tests need Sphinx and numpydoc (the ``docs`` extra; CI installs
it) and skip only where they are missing.  The README test needs neither.
"""
import importlib
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# Pages whose examples must run in every build (none needs an optional dependency).
PAGES_WITH_EXAMPLES = ("index", "determinism", "plugins", "training", "api/fastdrop", "api/graph", "api/plugin")
# The documented public modules, with the optional dependency each needs.
PUBLIC_MODULES = {"fastdrop": None, "fastdrop.graph": None, "fastdrop.plugin": None,
                  "fastdrop.torch": "torch", "fastdrop.dask": "dask"}


def _sphinx(builder, out, doctrees):
    """Run sphinx-build in a fresh interpreter (autodoc imports the installed fastdrop)."""
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
           "-d", str(doctrees), str(DOCS), str(out)]
    # from the output's directory: in the clone root `python -m` would import the unbuilt source tree
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(doctrees.parent))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the HTML site and run the doctest builder once for this module."""
    pytest.importorskip("sphinx", reason="the docs extra (sphinx) is not installed")
    pytest.importorskip("numpydoc", reason="the docs extra (numpydoc) is not installed")
    tmp = tmp_path_factory.mktemp("docs")
    html = _sphinx("html", tmp / "html", tmp / "doctrees")
    doctest = _sphinx("doctest", tmp / "doctest", tmp / "doctrees")
    return {"html": html, "doctest": doctest, "out": tmp}


def test_site_builds_with_warnings_as_errors(site):
    html = site["html"]
    assert html.returncode == 0, f"sphinx-build -W -b html failed:\n{html.stderr[-6000:]}"
    assert "WARNING" not in html.stderr, html.stderr[-6000:]
    for page in ("index", "determinism", "plugins", "training", "contributing", "cli", "api/fastdrop"):
        assert (site["out"] / "html" / f"{page}.html").is_file(), page


def _doctest_report(site):
    report = (site["out"] / "doctest" / "output.txt").read_text()
    per_page = {}
    for page, body in re.findall(r"^Document: (\S+)\n-+\n(.*?)(?=^Document: |\Z)", report, re.M | re.S):
        tried = re.search(r"^(\d+) tests? in \d+ items?\.$", body, re.M)
        per_page[page] = int(tried.group(1)) if tried else 0
    return report, per_page


def test_every_example_runs(site):
    doctest = site["doctest"]
    report, per_page = _doctest_report(site)
    assert doctest.returncode == 0, f"doctest builder failed:\n{doctest.stderr[-3000:]}\n{report[-6000:]}"
    assert re.search(r"^\s*0 failures in tests$", report, re.M), report[-3000:]
    assert re.search(r"^\s*0 failures in setup code$", report, re.M), report[-3000:]
    total = int(re.search(r"^\s*(\d+) tests$", report, re.M).group(1))
    # about 250 examples today; a build that silently stopped running them
    # (a changed setting, a page dropped from the toctree) falls far below
    assert total >= 150, report[-3000:]
    for page in PAGES_WITH_EXAMPLES:
        assert per_page.get(page, 0) > 0, f"no example of {page} ran: {sorted(per_page)}"


def _documented_names(site):
    from sphinx.util.inventory import InventoryFile
    with open(site["out"] / "html" / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", os.path.join)
    names = set()
    for kind, entries in inventory.data.items() if hasattr(inventory, "data") else inventory.items():
        if kind.startswith("py:"):
            names.update(entries)
    return names


def _resolve(name):
    """The object a documented dotted name stands for (None for what is not an attribute of a module)."""
    module, _, attr = name.rpartition(".")
    if not module:
        return None
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return None


def test_api_reference_covers_every_public_name(site):
    assert site["html"].returncode == 0
    documented = _documented_names(site)
    documented_objects = [obj for obj in map(_resolve, documented) if obj is not None]
    missing = []
    for module_name, dependency in PUBLIC_MODULES.items():
        if dependency is not None and importlib.util.find_spec(dependency) is None:
            continue
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if f"{module_name}.{name}" in documented:
                continue
            obj = getattr(module, name)
            # a re-export is documented once, under its home module
            if not any(obj is other for other in documented_objects):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names missing from docs/api/: {missing}"


def _builtin_variants():
    """{name: class} of the variants fastdrop itself ships (core and fastdrop_plugins)."""
    import fastdrop as fd
    return {name: cls for name, cls in fd.variants().items()
            if cls.__module__.split(".")[0] in ("fastdrop", "fastdrop_plugins")}


def test_api_reference_documents_every_builtin_variant(site):
    assert site["html"].returncode == 0
    documented = _documented_names(site)
    documented_objects = [obj for obj in map(_resolve, documented) if obj is not None]
    missing = [name for name, cls in _builtin_variants().items()
               if f"{cls.__module__}.{cls.__qualname__}" not in documented
               and not any(cls is other for other in documented_objects)]
    assert not missing, f"built-in variants missing from docs/api/variants.rst: {missing}"


def test_contributing_describes_every_test_file():
    page = (DOCS / "contributing.rst").read_text()
    undescribed = [p.name for p in sorted((ROOT / "tests").glob("test_*.py")) if f"tests/{p.name}" not in page]
    assert not undescribed, f"docs/contributing.rst does not say what these test files prove: {undescribed}"


# ---------------------------------------------------------------- README


def _readme_python_blocks():
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.M | re.S)


def test_readme_python_code_runs(tmp_path, monkeypatch):
    blocks = _readme_python_blocks()
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)
    for number, code in enumerate(blocks, 1):
        if re.search(r"^import torch$", code, re.M) and importlib.util.find_spec("torch") is None:
            continue  # the PyTorch section's block runs where the torch extra is installed (CI)
        namespace = {"__name__": "__readme__"}
        exec(compile(code, f"README.md python block {number}", "exec"), namespace)


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    # the two set-up commands, exactly as CI and newcomers run them
    assert re.search(r'^pip install "\.\[[a-z,]*demo[a-z,]*\]" && fastdrop demo$', text, re.M)
    test_line = re.search(r'^pip install (torch==[0-9.]+ )?"\.\[([a-z,]*test[a-z,]*)\]" '
                          r'\./plugins/fastdrop-example-plugin && pytest tests$', text, re.M)
    assert test_line
    # CI installs what the README's test command installs (torch pinned first), then runs it
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"[{test_line.group(2)}]" in ci and "\npytest tests\n" in ci
    if test_line.group(1):
        assert f"pip install --quiet {test_line.group(1).strip()}" in ci
    # the variants table names every variant fastdrop ships
    table = {cell for row in re.findall(r"^\| (.*?) \|", text, re.M) for cell in re.findall(r"`([a-z0-9_]+)`", row)}
    assert not set(_builtin_variants()) - table, sorted(set(_builtin_variants()) - table)
    # every link into the repository points at a file that exists
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"
