"""Shared pytest set-up: deterministic, CPU-sized, strict about the package's own warnings."""

import os
import subprocess
import sys
import textwrap

import pytest

# Tests must be reproducible on a 2-core CPU; keep XLA from grabbing every core per process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# The suite compiles hundreds of tiny programs; XLA's backend optimizations cost more than they
# save at these sizes (about 30% of the suite's CPU time). Numerics are compared side by side
# under the same flags, so every tolerance still means what it says.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

import jax

jax.config.update("jax_enable_x64", False)


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
