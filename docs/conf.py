"""Sphinx configuration of fastdrop's documentation.

Build the site with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
and run every example in it with ``sphinx-build -W -b doctest docs docs/_build/doctest``
(``tests/test_docs.py`` does both).  No extension here needs the network.
"""
import importlib.util
import os

import fastdrop

project = "fastdrop"
author = "the fastdrop developers"
copyright = "the fastdrop developers"
version = release = fastdrop.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_static_path = ["_static"] if os.path.isdir(os.path.join(os.path.dirname(__file__), "_static")) else []
html_theme = "alabaster"
html_title = f"fastdrop {release}"
html_theme_options = {"description": "Fast, bit-reproducible dropout on NumPy buffers, on the CPU.",
                      "fixed_sidebar": True}

# -- autodoc and numpydoc ---------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "none"          # the numpydoc sections say what each argument is
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False  # members are listed by autodoc, not as autosummary tables
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The adapters' heavy dependencies are optional extras.  Where one is not
# installed, autodoc documents the adapter against a stand-in module and the
# doctest builder skips the examples that need it (see ``skip_examples``).
MISSING = [module for module in ("torch", "dask") if importlib.util.find_spec(module) is None]
autodoc_mock_imports = list(MISSING)

# Pages whose examples need an optional dependency.
NEEDS = {"torch": "torch", "api/torch": "torch", "distributed": "dask", "api/dask": "dask"}

# -- doctest -----------------------------------------------------------------

# NumPy and fastdrop under their usual names in every example, as in NumPy's
# own documentation; ``importlib.util`` serves the ``:skipif:`` conditions.
doctest_global_setup = """
import importlib.util
import numpy as np
import fastdrop as fd
"""
doctest_test_doctest_blocks = "default"   # plain ``>>>`` blocks, docstrings included, are run too


def skip_examples(app, doctree):
    """Mark the examples of a page as skipped when the optional dependency
    they need is not installed; everything else always runs."""
    needed = NEEDS.get(app.env.docname)
    if needed is None or needed not in MISSING:
        return
    from docutils import nodes
    for node in doctree.findall(lambda n: isinstance(n, nodes.Element)
                                and (isinstance(n, nodes.doctest_block) or "testnodetype" in n)):
        node["skipif"] = "True"


def setup(app):
    app.connect("doctree-read", skip_examples)
    return {"parallel_read_safe": True}
