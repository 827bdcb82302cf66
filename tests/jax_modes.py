"""JAX settings for a block of a test, shared by every test folder (``tests/`` is on
``sys.path`` under pytest's default import mode, as the folder of the top ``conftest.py``)."""

import contextlib

import jax


@contextlib.contextmanager
def x64_enabled():
    """float64 for the duration of a block: the config works on jax 0.7.2 and 0.10 alike
    (``jax.enable_x64`` does not exist in 0.7.2)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
