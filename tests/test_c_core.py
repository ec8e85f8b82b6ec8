"""tests/c/fd_dump.c (the program .ci/aarch64 runs under qemu) built natively
and checked against the Python API: the same Philox blocks, keep masks and
dropout bytes.  This tests the C program itself, so that identical dumps on
two architectures mean identical, correct results."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import fastdrop as fd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO32 = 1 << 32
DTYPES = {"f16": "<f2", "f32": "<f4", "f64": "<f8"}


def c_compiler():
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    cc = c_compiler()
    if cc is None:
        pytest.skip("no C compiler")
    exe = str(tmp_path_factory.mktemp("fd_dump") / "fd_dump")
    subprocess.run([cc, "-O3", "-std=c99", "-Wall", "-Werror", "-Wno-unused-function",
                    "-I", os.path.join(ROOT, "src_c"), os.path.join(ROOT, "tests", "c", "fd_dump.c"),
                    "-o", exe, "-lm"], check=True)
    run = subprocess.run([exe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = {}
    for line in run.stdout.splitlines():
        kind, *fields = line.split()
        lines.setdefault(kind, []).append(fields)
    return lines, run.stderr


def generator_at(key, counter):
    g = fd.Generator(0)
    g.set_state({"bit_generator": "Philox4x32", "rounds": 10, "key": key, "counter": counter})
    return g


def p_for_threshold(t):
    p = 1.0 - t / TWO32
    assert fd._dropout.threshold_for(p) == t
    return p


def test_program_checks_every_isa_path_the_extension_has(dump):
    _, stderr = dump
    checked = int(stderr.split("isa-paths-checked")[1].split()[0])
    assert checked == len(fd.available_isas())


def test_philox_lines_match_the_python_block_function(dump):
    lines, _ = dump
    assert len(lines["philox"]) >= 30
    for rounds, *words in lines["philox"]:
        words = [int(w, 16) for w in words]
        out = fd.philox4x32(np.array(words[:4], np.uint32), tuple(words[4:6]), int(rounds))
        assert [int(w) for w in out] == words[6:], (rounds, words)


def test_keep_lines_match_handle_masks(dump):
    lines, _ = dump
    assert len(lines["keep"]) > 1000
    for k0, k1, counter, t, first, n, *bits in lines["keep"]:
        key, counter, t, first, n = (int(k0, 16), int(k1, 16)), int(counter, 16), int(t, 16), int(first), int(n)
        _, h = fd.dropout(np.ones(first + n, np.float32), p_for_threshold(t), generator=generator_at(key, counter),
                          return_handle=True)
        expected = "".join("1" if k else "0" for k in h.mask()[first:])
        assert bits == [expected], (key, counter, t, first, n)


def bfloat16_to_float32(bits):
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bfloat16(values):
    """Round to nearest even; a NaN keeps its sign and top payload bits, quieted."""
    x = values.view(np.uint32).astype(np.uint64)
    rounded = ((x + 0x7FFF + ((x >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)).astype(np.uint16)
    quiet = ((x >> np.uint64(16)) | np.uint64(0x40)).astype(np.uint16)
    return np.where(np.isnan(values), quiet, rounded)


def test_bfloat16_reference_rounds_to_nearest_even():
    # halfway cases go to the even neighbour, one ulp above halfway rounds up
    x = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x7F7FFFFF, 0xFF800000, 0x7F800001], np.uint32)
    assert float32_to_bfloat16(x.view(np.float32)).tolist() == [0x3F80, 0x3F82, 0x3F81, 0x7F80, 0xFF80, 0x7FC0]


def elements(n):
    """The element count of an apply line (N) or a block line (the logical shape, as 16x200)."""
    return int(np.prod([int(d) for d in n.split("x")]))


def check_bfloat16_line(k0, k1, counter, t, scale_bits, n, x_hex, y_hex):
    # the Python API has no bfloat16 of its own: check the C results against
    # the handle's mask and the rounding rule of src_c/fd_half.h
    key, counter, t, n = (int(k0, 16), int(k1, 16)), int(counter, 16), int(t, 16), elements(n)
    x = np.frombuffer(bytes.fromhex(x_hex), dtype="<u2").astype(np.uint16)
    assert x.size == n
    _, h = fd.dropout(np.ones(n, np.float32), p_for_threshold(t), generator=generator_at(key, counter),
                      return_handle=True)
    scale = np.float32(np.uint64(int(scale_bits, 16)).view(np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        y = bfloat16_to_float32(x) * np.where(h.mask(), scale, np.float32(0))
    expected = float32_to_bfloat16(y)
    expected[(expected & 0x7FFF) > 0x7F80] = 0x7FC0   # as the dump writes NaNs
    assert expected.astype("<u2").tobytes().hex() == y_hex, (counter, t, n)


def check_dropout_line(name, k0, k1, counter, t, scale_bits, n, x_hex, y_hex):
    key, counter, t, n = (int(k0, 16), int(k1, 16)), int(counter, 16), int(t, 16), elements(n)
    x = np.frombuffer(bytes.fromhex(x_hex), dtype=DTYPES[name]).astype(DTYPES[name][1:]).copy()
    assert x.size == n
    y, h = fd.dropout(x, p_for_threshold(t), generator=generator_at(key, counter), return_handle=True)
    assert int(np.float64(h.scale).view(np.uint64)) == int(scale_bits, 16)
    y = y.copy()
    y[np.isnan(y)] = np.nan            # the dump writes every NaN as the positive quiet NaN
    assert y.astype(DTYPES[name]).tobytes().hex() == y_hex, (name, counter, t, n)


def test_apply_lines_bfloat16_match_mask_and_rounding(dump):
    lines, _ = dump
    rows = [fields for fields in lines["apply"] if fields[0] == "bf16"]
    assert len(rows) > 100
    for _, *fields in rows:
        check_bfloat16_line(*fields)


def test_apply_lines_match_dropout_bytes(dump):
    lines, _ = dump
    assert len(lines["apply"]) > 300
    for fields in lines["apply"]:
        if fields[0] != "bf16":
            check_dropout_line(*fields)


def test_block_lines_match_one_call_over_the_whole_array(dump):
    # each line: the blocks of a tiling of a 16x200 or 3x20x40 array,
    # assembled; the program itself requires every tiling, layout and path
    # to give the bytes of one plain call
    lines, _ = dump
    rows = lines["block"]
    assert {(r[0], r[6]) for r in rows} == {(d, s) for d in ("f16", "f32", "f64", "bf16")
                                            for s in ("16x200", "3x20x40")}
    assert {int(r[4], 16) for r in rows} == {0x80000000, 0xB3333333, 0x4CCCBCCD}
    assert len(rows) == 48
    for name, *fields in rows:
        if name == "bf16":
            check_bfloat16_line(*fields)
        else:
            check_dropout_line(name, *fields)


def fnv1a(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_blockhash_lines_hash_the_block_lines_output(dump):
    # every tiling (11 of the 16x200 array, 5 of the 3x20x40 one) in every
    # memory layout hashes to the bytes its block line prints
    lines, _ = dump
    expected = {tuple(r[:5]) + (r[6],): fnv1a(bytes.fromhex(r[8])) for r in lines["block"]}
    tilings = {}
    for name, k0, k1, counter, t, shape, tiling, *hashes in lines["blockhash"]:
        config = (name, k0, k1, counter, t, shape)
        assert [int(h, 16) for h in hashes] == [expected[config]] * 4, (config, tiling)
        tilings.setdefault(config, []).append(int(tiling))
    assert sorted(tilings) == sorted(expected)
    assert all(sorted(ks) == (list(range(11)) if c[5] == "16x200" else list(range(11, 16)))
               for c, ks in tilings.items())


def test_normal_lines_match_standard_normal(dump):
    lines, _ = dump
    for k0, k1, counter, n, *values in lines["normal"]:
        z = fd.standard_normal(int(n), (int(k0, 16), int(k1, 16)), int(counter, 16))
        np.testing.assert_allclose(z, np.array(values, dtype=np.float64), rtol=1e-11, atol=1e-300)
