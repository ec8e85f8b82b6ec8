"""Settings: fd.config_context overrides in this thread only and restores on
exit; set_config changes the process defaults; bad values change nothing."""
import threading

import numpy as np
import pytest

import fastdrop as fd


def test_config_context_overrides_and_restores():
    before = fd.get_config()
    with fd.config_context(isa="portable", threads=1):
        assert fd.get_config() == {"isa": "portable", "threads": 1}
        assert fd.get_isa() == "portable" and fd.get_num_threads() == 1
    assert fd.get_config() == before


def test_config_context_restores_after_an_exception():
    before = fd.get_config()
    with pytest.raises(RuntimeError):
        with fd.config_context(threads=1):
            raise RuntimeError("inside")
    assert fd.get_config() == before


def test_nested_contexts_keep_what_they_do_not_set():
    with fd.config_context(isa="portable"):
        with fd.config_context(threads=1):
            assert fd.get_config() == {"isa": "portable", "threads": 1}
        assert fd.get_isa() == "portable"


def test_other_threads_do_not_see_an_override():
    defaults = fd.get_config()
    seen = {}

    def worker():
        seen["config"] = fd.get_config()

    with fd.config_context(isa="portable", threads=1):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert seen["config"] == defaults


def test_concurrent_contexts_in_threads_stay_apart():
    isas = fd.available_isas()
    errors = []
    barrier = threading.Barrier(len(isas))

    def worker(isa):
        with fd.config_context(isa=isa):
            barrier.wait()
            for _ in range(200):
                if fd.get_isa() != isa:
                    errors.append((isa, fd.get_isa()))

    threads = [threading.Thread(target=worker, args=(isa,)) for isa in isas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(isa="sse9"), ValueError, "isa"), (dict(isa=3), TypeError, "isa"),
    (dict(threads=0), ValueError, "threads"), (dict(threads=1.5), TypeError, "threads"),
    (dict(threads=True), TypeError, "threads"),
])
def test_bad_settings_raise_naming_them_and_change_nothing(kwargs, exc, name):
    before = fd.get_config()
    with pytest.raises(exc, match=name):
        fd.set_config(**kwargs)
    with pytest.raises(exc, match=name):
        with fd.config_context(**kwargs):
            pass
    assert fd.get_config() == before


def test_set_config_changes_the_process_defaults_and_auto_picks_the_best():
    fd.set_config(isa="portable", threads=1)      # the conftest fixture restores the defaults
    assert fd.get_config() == {"isa": "portable", "threads": 1}
    fd.set_config(isa="auto")
    assert fd.get_isa() == fd.available_isas()[-1]
    assert fd.get_num_threads() == 1


def test_results_never_depend_on_the_settings():
    x = np.random.default_rng(0).standard_normal(300_001).astype(np.float32)
    results = []
    for isa in fd.available_isas():
        for threads in (1, 2):
            with fd.config_context(isa=isa, threads=threads):
                results.append(fd.dropout(x, 0.3, generator=fd.Generator(4)))
    for y in results[1:]:
        np.testing.assert_array_equal(y.view(np.uint32), results[0].view(np.uint32))


_OVERRIDE_CHILD = """
import numpy as np, fastdrop as fd
x = np.ones(64, np.float32)
try:
    fd.dropout(x, 0.5)
except ValueError as e:
    assert {variable!r} in str(e), e
else:
    raise AssertionError("the bad {variable} was not reported")
assert (x == 1).all()
with fd.config_context(isa="portable", threads=1):
    fd.dropout(x, 0.5)
fd.set_config(isa="portable", threads=2)
fd.dropout(x, 0.5)
assert fd.get_config() == {{"isa": "portable", "threads": 2}}, fd.get_config()
print("ok")
"""


@pytest.mark.parametrize("variable", ["FASTDROP_ISA", "FASTDROP_NUM_THREADS"])
def test_a_bad_environment_variable_is_reported_and_can_be_overridden_in_code(variable, tmp_path):
    import os
    import subprocess
    import sys
    missing = [name for name in ("portable", "avx2", "avx512", "neon") if name not in fd.available_isas()]
    bad = {"FASTDROP_ISA": missing[0], "FASTDROP_NUM_THREADS": "0"}[variable]
    env = {**os.environ, variable: bad}
    out = subprocess.run([sys.executable, "-c", _OVERRIDE_CHILD.format(variable=variable)], env=env,
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
