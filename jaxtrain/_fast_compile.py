"""XLA settings for a process that compiles many small programs and runs each briefly.

Only the standard library is imported: the settings go into ``XLA_FLAGS``, which XLA reads
once, when the first computation creates its backend, so they must be set before that.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import MutableMapping

# XLA aborts the process on a flag it does not know. The CPU flags below are in jaxlib 0.7.2 and
# 0.10.2 (the versions CI runs), and taken to be in the releases between; not assumed outside.
_CPU_FLAGS_JAXLIB = ((0, 7), (0, 11))


def _jaxlib_version() -> tuple[int, ...]:
    """The installed jaxlib's (major, minor), read without importing it; ``()`` if unknown."""
    try:
        return tuple(int(part) for part in importlib.metadata.version("jaxlib").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return ()


def fast_compile_flags(*, elemental_emitters: bool = True) -> dict[str, str]:
    """``{flag: value}``: XLA's settings that compile small programs fastest on this jaxlib.

    - ``xla_backend_optimization_level=0``: about 30% less compile time, and programs of a
      small model run about as fast;
    - ``xla_cpu_parallel_codegen_split_count=1``: LLVM compiles each program as one module
      instead of splitting it for threads that a 2-core machine cannot run in parallel; 12–15%
      less backend compile time (an ``explain_run`` and two lecture claims: 4.2 → 3.5 s with
      jaxlib 0.10.2, 4.9 → 4.2 s with 0.7.2), and the same machine code. Only on the jaxlib
      versions where XLA is known to have the flag;
    - with ``elemental_emitters``, ``xla_cpu_use_fusion_emitters=false``: the CPU backend's
      elemental emitters instead of its MLIR fusion emitters, half the backend's compile time
      (the test suite: 6:32 → 4:14 on 2 cores; ``jaxtrain tour --quick`` 55 → 41 s), for
      code that runs a few percent slower (the full tour: 156 → 163 s). Only on the jaxlib
      versions where XLA knows the flag.

    Args:
      elemental_emitters: include the emitter flag (where the jaxlib has it).

    Returns:
      The flags' names (without ``--``) and values.
    """
    flags = {"xla_backend_optimization_level": "0"}
    low, high = _CPU_FLAGS_JAXLIB
    if low <= _jaxlib_version() < high:
        flags["xla_cpu_parallel_codegen_split_count"] = "1"
        if elemental_emitters:
            flags["xla_cpu_use_fusion_emitters"] = "false"
    return flags


def prefer_fast_compilation(
    environ: MutableMapping[str, str] = os.environ, *, elemental_emitters: bool = True
) -> None:
    """Adds :func:`fast_compile_flags` to ``XLA_FLAGS``, keeping any the user set.

    Must run before the process's first JAX computation; later it has no effect.

    Args:
      environ: the environment to change (the process's own by default).
      elemental_emitters: as for :func:`fast_compile_flags`.
    """
    for flag, value in fast_compile_flags(elemental_emitters=elemental_emitters).items():
        flags = environ.get("XLA_FLAGS", "")
        if flag not in flags:
            environ["XLA_FLAGS"] = f"{flags} --{flag}={value}".strip()
