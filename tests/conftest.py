"""Shared pytest set-up: deterministic, CPU-sized, strict about the package's own warnings."""

import atexit
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from jaxtrain._fast_compile import prefer_fast_compilation

# Tests must be reproducible on a 2-core CPU; keep XLA from grabbing every core per process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# The suite compiles thousands of small programs, and compiling is most of its time (XLA's
# backend alone: 390 of ~740 CPU-s); the tour's settings cut the suite from 6:32 to 4:14 on
# 2 cores. Numerics are compared side by side under the same flags, so every tolerance still
# means what it says.
prefer_fast_compilation()

# xdist runs one worker per core, so a worker's matrix products gain nothing from Eigen's
# thread pool and pay its hand-offs: one thread each, 4-6% less wall time (tests/curvature,
# optim and monitor: 101.6 and 101.8 s against 96.2 and 96.4 s, alternating, 2026-12-07).
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    ).strip()

# Many tests build the same program from new function objects (a fresh ``optax.sgd(0.1)``, a
# model of the same shapes), which JAX's in-memory caches cannot see are equal. JAX's persistent
# cache keys on the program itself: one fresh directory per session, made by the controlling
# process and inherited through the environment by xdist's workers and by every subprocess
# (multi-device runs, notebooks, the command line), so a program compiles once per session
# (the whole suite: 815 → 800 CPU-s, 7:06 → 6:55 on 2 cores). No size limit: a limit turns on
# a file lock and a directory scan per write that cost more than the cache saves. An entry read
# while another process writes it fails to decompress; JAX then warns and compiles.
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxtrain-tests-xla-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

# Each lowered program carries its equations' Python tracebacks as MLIR locations (up to 100
# frames each), which only XLA's error messages and profiles read: none kept cuts the time
# spent lowering by 10-18% and the whole of tests/optim, curvature and nn by 6-8% (two
# alternating rounds, 2026-12-06). Inherited by every subprocess, as the cache above.
os.environ.setdefault("JAX_TRACEBACK_IN_LOCATIONS_LIMIT", "0")
os.environ.setdefault("JAX_INCLUDE_FULL_TRACEBACKS_IN_LOCATIONS", "false")

import jax  # noqa: E402  (after the environment JAX reads at import)

jax.config.update("jax_enable_x64", False)


# --doctest-modules would import each test directory's conftest.py a second time as a module
# named plain "conftest", which clashes with the one loaded first when a run names two
# directories (pytest tests/curvature tests/lecture: "import file mismatch"). The tests hold
# no doctests; the library's are collected from jaxtrain/.
collect_ignore_glob = ["*/conftest.py"]


# The test files that take longest (seconds on 2 cores, 2026-12-07), collected first and
# longest first. With --dist loadfile each file goes to one worker, in collection order
# (--no-loadscope-reorder: xdist would order files by their number of tests, which put
# tests/train/test_multiprocess.py, 3 tests and 36 s, near the end, where it ran alone while
# the other worker had nothing left). Longest first, the last files handed out are short.
_LONGEST_FIRST = (
    "tests/cli/test_help_examples.py",  # 52 s
    "tests/diagnose/test_explain.py",  # 40
    "tests/train/test_multiprocess.py",  # 28 (36 before its launches were joined)
    "tests/optim/test_escape_papers.py",  # 21
    "tests/curvature/test_model_loss.py",  # 17
    "tests/lecture/test_task_strategy.py",  # 16
    "tests/cli/test_cli_hessian.py",  # 15
    "tests/monitor/test_sharpness.py",  # 15
    "tests/monitor/test_fit_monitors.py",  # 12
    "tests/curvature/test_lanczos.py",  # 11
    "tests/cli/test_cli_diagnose.py",  # 11
    "tests/train/test_checkpoint.py",  # 11
    "tests/curvature/test_curvature_against_dense.py",  # 11
    "tests/cli/test_tour.py",  # 11
    "tests/cli/test_cli_train.py",  # 11
    "tests/train/test_multidevice.py",  # 9
    "tests/notebooks/test_notebooks.py",  # 9
)


def pytest_collection_modifyitems(session, config, items):
    rank = {module: place for place, module in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_collection_finish(session):
    # Python's full collections walked every object a worker holds, 20 times per worker (5 s
    # of 110): the libraries, modules and test items that live to its end are frozen after
    # collection, so no collection walks them again, and the young generation is collected
    # every 50,000 allocations instead of 700: the collector's time per worker 5-6 s -> 2 s,
    # the wall time of tests/train, nn, losses and diagnose 6% less (117 and 114 s against 112
    # and 107 s, alternating, 2026-12-07). Cycles made later are still collected.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        # An xdist worker has reported everything by now. At exit JAX destroys every program
        # it compiled (about 1 ms each; a worker compiles thousands), and the controller
        # waits for its workers: 10 s or more at the end of the suite. Registered last, this
        # runs first of the exit handlers and ends the process without that clean-up.
        atexit.register(_exit_now)
    elif _OWN_CACHE:
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def _exit_now():
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_with_devices(code: str, num_devices: int = 8, timeout: float = 300.0) -> str:
    """Runs ``code`` in a fresh interpreter with ``num_devices`` emulated CPU devices.

    The device count of a JAX process is fixed at start-up, so multi-device tests run in a
    subprocess. Returns the subprocess's stdout; fails the test with its stderr otherwise.
    """
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={num_devices}"
    )
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"subprocess failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture
def multi_device():
    """The :func:`run_with_devices` helper, as a fixture."""
    return run_with_devices


@pytest.fixture(autouse=True)
def _headless_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    yield
    # A test that draws and does not close would keep its figures for the rest of the worker.
    import matplotlib.pyplot as plt

    plt.close("all")
