"""Settings: the kernel path (ISA) and the number of kernel threads.

Process-wide defaults come from the environment (``FASTDROP_NUM_THREADS``,
``FASTDROP_ISA``) or :func:`set_config`; :func:`config_context` overrides
them in the current thread (and asyncio task) only, and restores them on
exit.  No result ever depends on a setting: every path and thread count
gives the same bits.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import platform
import threading
from typing import Dict, Iterator, List, Optional, Tuple, Union

from . import _kernels
from ._validation import check_int

__all__ = ["get_config", "set_config", "config_context", "set_num_threads", "get_num_threads",
           "set_isa", "get_isa", "available_isas"]

_ISA_NAMES = {code: name for name, code in _kernels.ISA_CODES.items()}

# The process-wide (isa code, threads), resolved at first use.
_defaults: Optional[Tuple[int, int]] = None
_defaults_lock = threading.Lock()
# Values set_config chose before the defaults were resolved; they take the
# place of the environment, so a bad FASTDROP_ISA or FASTDROP_NUM_THREADS
# can be overridden in code.
_chosen: List[Optional[int]] = [None, None]
# Overrides of config_context: (isa code, threads) or None.
_scoped: contextvars.ContextVar[Optional[Tuple[int, int]]] = contextvars.ContextVar("fastdrop_config",
                                                                                     default=None)


def available_isas() -> List[str]:
    """Names of the kernel paths this CPU can run, portable first.

    Examples
    --------
    >>> import fastdrop as fd
    >>> fd.available_isas()[0]
    'portable'
    """
    return [name for name, code in _kernels.ISA_CODES.items() if _kernels.isa_supported(code)]


def _isa_code(name: object, argname: str = "isa") -> int:
    """The code of an ISA path name ('auto' is the best one)."""
    if not isinstance(name, str):
        raise TypeError(f"{argname} must be a string, one of {available_isas() + ['auto']}, got {name!r}")
    if name.lower() == "auto":
        return _kernels.isa_best()
    code = _kernels.ISA_CODES.get(name.lower())
    if code is None:
        raise ValueError(f"{argname} must be one of {list(_kernels.ISA_CODES) + ['auto']}, got {name!r}")
    if not _kernels.isa_supported(code):
        raise ValueError(f"{argname}={name!r} is not supported by this CPU; available: {available_isas()}")
    return code


def _threads_from_env() -> int:
    env = os.environ.get("FASTDROP_NUM_THREADS")
    if env:
        try:
            threads = int(env)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"FASTDROP_NUM_THREADS must be a positive integer, got {env!r}")
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _isa_from_env() -> int:
    env_isa = os.environ.get("FASTDROP_ISA")
    return _isa_code(env_isa, "FASTDROP_ISA") if env_isa else _kernels.isa_best()


_FROM_ENV = (_isa_from_env, _threads_from_env)


def _chosen_or_env(setting: int) -> int:
    """Setting 0 (isa code) or 1 (threads) as set_config chose it, else from
    the environment; the caller holds _defaults_lock."""
    chosen = _chosen[setting]
    return chosen if chosen is not None else _FROM_ENV[setting]()


def _process_defaults() -> Tuple[int, int]:
    global _defaults
    with _defaults_lock:
        if _defaults is None:
            _defaults = (_chosen_or_env(0), _chosen_or_env(1))
        return _defaults


def current() -> Tuple[int, int]:
    """(isa code, threads) in effect here: what the kernels are called with."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    return _defaults if _defaults is not None else _process_defaults()


def _in_effect(setting: int) -> int:
    """Setting 0 (isa code) or 1 (threads) in effect here, resolving only
    that one: a bad environment variable for the other does not matter."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped[setting]
    with _defaults_lock:
        return _defaults[setting] if _defaults is not None else _chosen_or_env(setting)


def _resolve(isa: Optional[str], threads: Optional[int]) -> Tuple[int, int]:
    """(isa code, threads): the values given, checked, or those in effect."""
    code = _in_effect(0) if isa is None else _isa_code(isa)
    count = _in_effect(1) if threads is None else check_int(threads, "threads", low=1)
    return code, count


def get_config() -> Dict[str, Union[str, int]]:
    """The settings in effect here, as ``{"isa": name, "threads": n}``.

    ``threads`` is what the kernels may use: 1 in a process forked after
    they had run on several threads (see :func:`get_num_threads`).

    Examples
    --------
    >>> import fastdrop as fd
    >>> with fd.config_context(threads=1):
    ...     fd.get_config()["threads"]
    1
    """
    isa, threads = current()
    return {"isa": _ISA_NAMES[isa], "threads": min(threads, _kernels.thread_limit())}


def set_config(isa: Optional[str] = None, threads: Optional[int] = None) -> None:
    """Change the process-wide defaults; None leaves a setting as it is.

    Parameters
    ----------
    isa : str, optional
        A kernel path from :func:`available_isas`, or ``"auto"`` for the
        best one.  Every path gives bit-identical results.
    threads : int >= 1, optional
        Threads the kernels may use for large buffers.  Results never
        depend on it.

    Raises
    ------
    TypeError, ValueError
        A bad value, named in the message; nothing is changed then.
    """
    global _defaults
    code = None if isa is None else _isa_code(isa)
    count = None if threads is None else check_int(threads, "threads", low=1)
    with _defaults_lock:
        if _defaults is not None:
            _defaults = (_defaults[0] if code is None else code, _defaults[1] if count is None else count)
        else:
            _chosen[:] = [code if code is not None else _chosen[0], count if count is not None else _chosen[1]]


@contextlib.contextmanager
def config_context(isa: Optional[str] = None, threads: Optional[int] = None) -> Iterator[None]:
    """Override settings inside a ``with`` block, in this thread only.

    Parameters
    ----------
    isa, threads
        As in :func:`set_config`; None keeps the value in effect.

    Notes
    -----
    The overrides live in a :mod:`contextvars` variable: other threads (and
    other asyncio tasks) keep their own settings, and the previous settings
    come back when the block exits, also on an exception.

    Examples
    --------
    >>> import numpy as np, fastdrop as fd
    >>> x = np.ones(1000, np.float32)
    >>> with fd.config_context(isa="portable", threads=1):
    ...     a = fd.dropout(x, 0.5, generator=fd.Generator(0))
    >>> b = fd.dropout(x, 0.5, generator=fd.Generator(0))
    >>> bool((a == b).all())
    True
    """
    token = _scoped.set(_resolve(isa, threads))
    try:
        yield
    finally:
        _scoped.reset(token)


def set_num_threads(n: int) -> None:
    """Threads the kernels may use for large buffers (default: the CPUs this
    process may run on, or ``FASTDROP_NUM_THREADS``).  Results never depend on it."""
    set_config(threads=check_int(n, "n", low=1))


def get_num_threads() -> int:
    """Threads the kernels may use here (see :func:`config_context`).

    In a process forked after the kernels had run on several threads this
    is 1, whatever the setting: see :ref:`threads-after-fork`."""
    return min(current()[1], _kernels.thread_limit())


def set_isa(name: str) -> None:
    """Force a kernel path ('portable', 'avx2', ...) or 'auto' for the best.
    Every path gives bit-identical results; this exists to prove it."""
    _isa_code(name)
    set_config(isa=name)


def get_isa() -> str:
    """The kernel path in effect here."""
    return _ISA_NAMES[current()[0]]


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where the system has one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
