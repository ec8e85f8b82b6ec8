"""Build of fastdrop's Cython extension over the header-only C in src_c/.

Environment switches (all optional):
  FASTDROP_DEBUG=1      -O0 -g, assertions on
  FASTDROP_SANITIZE=1   -fsanitize=address,undefined (see .ci/sanitize)
  FASTDROP_NO_OPENMP=1  build without OpenMP (kernels then run on one thread)

No CPU-specific flags: run-time dispatch picks the SIMD path.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_C = "src_c"


def flag(name):
    return os.environ.get(name, "") not in ("", "0")


def compiler_accepts(flags):
    """True if the C compiler builds a small OpenMP program with `flags`."""
    cc = os.environ.get("CC", "cc")
    code = "#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        try:
            result = subprocess.run([cc, *flags, src, "-o", os.path.join(tmp, "probe")],
                                    capture_output=True)
        except OSError:
            return False
        return result.returncode == 0


def build_flags():
    if sys.platform == "win32":
        return ["/O2"], [], (["/openmp"], [])
    compile_args = ["-std=c99", "-Wno-unused-function", "-Wno-unreachable-code"]
    link_args = []
    if flag("FASTDROP_DEBUG") or flag("FASTDROP_SANITIZE"):
        compile_args += ["-O0", "-g", "-UNDEBUG"]
    else:
        compile_args += ["-O3"]
    if flag("FASTDROP_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
        compile_args += san
        link_args += san
    openmp = ([], [])
    if not flag("FASTDROP_NO_OPENMP") and compiler_accepts(["-fopenmp"]):
        openmp = (["-fopenmp"], ["-fopenmp"])
    return compile_args, link_args, openmp


# module name -> (sources, uses OpenMP): the kernels and the C-level state of
# generators and handles that the kernels' fast path reads
MODULES = {
    "fastdrop._state": (["fastdrop/_state.pyx"], False),
    "fastdrop._kernels": (["fastdrop/_kernels.pyx"], True),
}


def extensions():
    compile_args, link_args, (omp_compile, omp_link) = build_flags()
    headers = sorted(os.path.join(SRC_C, h) for h in os.listdir(os.path.join(HERE, SRC_C)) if h.endswith(".h"))
    exts = [
        Extension(
            name,
            sources=sources,
            depends=headers,
            include_dirs=[SRC_C, np.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args + (omp_compile if openmp else []),
            extra_link_args=link_args + (omp_link if openmp else []),
        )
        for name, (sources, openmp) in MODULES.items()
    ]
    return cythonize(exts, compiler_directives={"language_level": "3"})


class BuildPyWithHeaders(build_py):
    """Ship the C headers inside the package (fastdrop/include) so other
    extensions can compile against them (see fastdrop.get_include())."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "fastdrop", "include")
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(os.path.join(HERE, SRC_C)):
            if name.endswith(".h"):
                shutil.copy(os.path.join(HERE, SRC_C, name), target)


setup(ext_modules=extensions(), cmdclass={"build_py": BuildPyWithHeaders})
