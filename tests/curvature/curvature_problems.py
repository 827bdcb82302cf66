"""Problems shared by the curvature tests: the lecture's toy, small tanh MLPs, trace counting.

Imported by the tests as ``curvature_problems`` (this folder is on ``sys.path`` under pytest's
default import mode); the fixtures in ``conftest.py`` hand out the same objects.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax_modes import x64_enabled  # noqa: F401  (re-exported to the tests)


def toy_loss(w):
    """The lecture's network ŷ = w₁w₂x with x = 1, target 1, squared error."""
    return (1.0 - w[0] * w[1]) ** 2


def init_mlp(seed, sizes, dtype=jnp.float32):
    # NumPy's generator keeps test set-up free of jax.random compilations.
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        # Cast by NumPy and put once: jnp.asarray would compile a conversion per shape.
        b = np.full(fan_out, 0.1)
        params.append({"w": _put(w, dtype), "b": _put(b, dtype)})
    return params


def _put(array, dtype):
    return jax.device_put(np.asarray(array, jnp.dtype(dtype)))


def apply_mlp(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def mlp_loss(params, x, y):
    return jnp.mean(jnp.sum((apply_mlp(params, x) - y) ** 2, axis=-1))


def make_mlp_problem(sizes=(4, 8, 3), num_examples=32, seed=0, dtype=jnp.float32):
    rng = np.random.default_rng(seed + 1000)
    params = init_mlp(seed, sizes, dtype)
    x = _put(rng.standard_normal((num_examples, sizes[0])), dtype)
    y = _put(rng.standard_normal((num_examples, sizes[-1])), dtype)
    return params, x, y


class TraceCounter:
    """Wraps a function and counts how often JAX traces (not runs) it."""

    def __init__(self, fn):
        self.fn = fn
        self.count = 0

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self.fn(*args, **kwargs)


def _matmul(A, v):
    return A @ v


def matrix_operator(A):
    """v ↦ Av as a pytree (``Partial``): operators of one shape share their compilations."""
    return jax.tree_util.Partial(_matmul, jnp.asarray(A))


def symmetric_matrix(n, spectrum, seed=0, dtype=np.float32):
    """A random orthogonal similarity of ``diag(spectrum)``: a dense matrix, known spectrum."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return jnp.asarray((Q * np.asarray(spectrum)) @ Q.T, dtype)
