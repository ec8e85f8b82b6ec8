"""The `fastdrop bench` command line: what its header and --help say (no timing)."""
import io
import re

import pytest

import fastdrop as fd
from fastdrop import bench


def help_text(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    return capsys.readouterr().out


def test_help_states_every_default_and_has_no_markup(capsys):
    text = help_text(capsys)
    assert "``" not in text
    options = re.findall(r"^  (--[a-z-]+)", text, flags=re.M)
    assert set(options) >= {"--sizes", "--threads", "--p", "--dtypes", "--repeats", "--isa", "--no-torch"}
    # each option's block (up to the next option) names its default
    blocks = re.split(r"\n  (?=--)", text.split("options:")[1])[1:]
    for block in blocks:
        assert "(default:" in " ".join(block.split()), block


def test_header_names_cpu_and_kernel_path():
    out = io.StringIO()
    before = fd.get_isa()
    try:
        rows = bench.run(sizes=("4Ki",), threads=(1,), ps=(0.5,), repeats=1, torch_compare=False,
                         isa="portable", out=out)
    finally:
        fd.set_isa(before)
    header = out.getvalue().splitlines()[:2]
    assert "kernel path portable" in header[0]
    assert header[1].startswith("CPU: ") and bench.cpu_model() in header[1]
    assert rows[0]["forward"] > 0


def test_cpu_model_is_a_name():
    name = bench.cpu_model()
    assert isinstance(name, str) and name.strip() == name and name


@pytest.mark.parametrize("argv, message", [
    (["--isa", "nope"], "--isa"), (["--threads", "0"], "--threads"), (["--repeats", "0"], "--repeats"),
    (["--p", "1.5"], "--p"), (["--sizes", "3Ki"], "--sizes"),
] + [(["--isa", name], "--isa") for name in ("portable", "avx2", "avx512", "neon")
     if name not in fd.available_isas()])
def test_bad_arguments_are_usage_errors_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv + ["--no-torch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {message}" in err and "Traceback" not in err
