"""Shared fixtures.

Settings are changed only through fastdrop's public API: a test that needs
a kernel path or a thread count asks for ``scoped_config`` and gets
``fd.config_context`` for its duration; every test starts and ends with the
process-wide defaults it found, and the plugin tests get a registry of their
own through ``fastdrop.plugin.registry_context``.
"""
import contextlib

import pytest

import fastdrop as fd
from fastdrop.plugin import Registry, registry_context

@pytest.fixture(autouse=True)
def restore_process_settings():
    """Put back the process-wide settings a test may change (set_isa, set_num_threads)."""
    saved = fd.get_config()
    yield
    fd.set_config(**saved)

@pytest.fixture
def scoped_config():
    """``scoped_config(isa=..., threads=...)`` applies ``fd.config_context`` until the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda **kwargs: stack.enter_context(fd.config_context(**kwargs))

@pytest.fixture
def fresh_registry():
    """``fresh_registry(entry_points=False)`` installs a new shared registry until the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda entry_points=False: stack.enter_context(registry_context(Registry(entry_points=entry_points)))
