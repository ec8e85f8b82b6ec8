"""The layering of fastdrop's modules, as import-linter's contracts in
pyproject.toml state it: imports run downward only (so there is no cycle),
and plugins import only public modules.

The contracts are checked on the source tree (the .py files), whichever
fastdrop is installed.  Two tests break a copy of the tree on purpose, to
show that the check fails when an import runs the wrong way.
"""
import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is not installed (pip install -e '.[test]')")
if sys.version_info >= (3, 11):
    import tomllib
else:  # import-linter depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SRC = Path("plugins", "fastdrop-example-plugin", "src")
LINT_IMPORTS = shutil.which("lint-imports", path=sysconfig.get_path("scripts")) or shutil.which("lint-imports")


def lint_imports(root):
    """Run lint-imports on the tree at `root`; (exit status, output)."""
    assert LINT_IMPORTS, "import-linter is installed but its lint-imports command is not found"
    path = [str(root), str(root / "plugins"), str(root / EXAMPLE_SRC)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    run = subprocess.run([LINT_IMPORTS, "--config", "pyproject.toml", "--no-cache", "--no-logo"],
                         cwd=root, env=env, capture_output=True, text=True)
    return run.returncode, run.stdout + run.stderr


@pytest.fixture
def tree_copy(tmp_path):
    """A copy of the Python sources and pyproject.toml, to break on purpose."""
    for part in ("fastdrop", "plugins"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_contracts_are_kept():
    status, output = lint_imports(ROOT)
    assert status == 0, output
    assert "0 broken" in output


def test_an_upward_import_inside_a_function_breaks_the_layers(tree_copy):
    # the kind of import that once hid a cycle: a low module reaching up to the graph lazily
    with open(tree_copy / "fastdrop" / "_validation.py", "a") as f:
        f.write("\n\ndef _reach_up():\n    from .graph import containers\n    return containers\n")
    status, output = lint_imports(tree_copy)
    assert status == 1, output
    assert "fastdrop._validation is not allowed to import fastdrop.graph" in output


def test_a_plugin_importing_a_private_module_breaks_the_contract(tree_copy):
    with open(tree_copy / "plugins" / "fastdrop_plugins" / "spatial.py", "a") as f:
        f.write("\nfrom fastdrop._validation import check_p as _check_p\n")
    status, output = lint_imports(tree_copy)
    assert status == 1, output
    assert "fastdrop_plugins.spatial -> fastdrop._validation" in output


def test_a_module_without_a_layer_breaks_the_layers(tree_copy):
    (tree_copy / "fastdrop" / "_stray.py").write_text('"""A module no layer names."""\n')
    status, output = lint_imports(tree_copy)
    assert status == 1, output
    assert "fastdrop._stray" in output


def test_ignored_imports_of_the_package_name_only_the_compiled_module():
    """grimp cannot see the compiled fastdrop._kernels, so ``from . import
    _kernels`` reads as an import of ``fastdrop`` itself, and the layers
    contract ignores those edges.  Every line behind an ignored edge must
    import only _kernels and real submodules: an ``import fastdrop`` or a
    ``from . import dropout`` there would be a real upward import."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    [layers] = [c for c in contracts if c["type"] == "layers"]
    importers = [expr.split("->")[0].strip() for expr in layers["ignore_imports"]]
    assert all(expr.split("->")[1].strip() == "fastdrop" for expr in layers["ignore_imports"])
    script = textwrap.dedent("""
        import json, sys, grimp
        graph = grimp.build_graph("fastdrop", cache_dir=None)
        print(json.dumps({"modules": sorted(graph.modules), "lines": {
            m: [d["line_contents"] for d in graph.get_import_details(importer=m, imported="fastdrop")]
            for m in sys.argv[1:]}}))
    """)
    run = subprocess.run([sys.executable, "-c", script, *importers], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    for importer, lines in found["lines"].items():
        assert lines, f"{importer} -> fastdrop is ignored but no longer imported: drop it from ignore_imports"
        for line in lines:
            [node] = ast.parse(line.strip()).body
            assert isinstance(node, ast.ImportFrom) and (node.level, node.module) in ((1, None), (0, "fastdrop")), \
                f"{importer}: {line!r} imports the fastdrop package itself"
            for alias in node.names:
                assert alias.name == "_kernels" or f"fastdrop.{alias.name}" in found["modules"], \
                    f"{importer}: {line!r} takes {alias.name!r} from the package's __init__"
