"""Problems with known curvature and gradient noise, shared by the monitor tests.

Linear least squares L(θ) = ½·mean((xθ − y)²) has the Hessian XᵀX/N exactly, and per-example
gradients gᵢ = xᵢ(xᵢᵀθ − yᵢ) in closed form, so λmax, tr(H), |G|² and tr(Σ) are known.
"""

import jax.numpy as jnp
import numpy as np


def half_squared_error(predictions, targets):
    """½·mean over examples of the squared error (a quadratic in a linear model's θ)."""
    return 0.5 * jnp.mean(jnp.sum(jnp.square(predictions - targets), axis=-1))


def linear_apply(params, state, x, *, train, rng=None):
    del train, rng
    return x @ params["w"], state


def regression(n=256, d=6, *, seed=0, scales=None, noise=0.5):
    """``(x, y, theta0)``: features of the given column scales, targets of a noisy linear model."""
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 2.0, d) if scales is None else np.asarray(scales)
    x = rng.standard_normal((n, d)) * scales
    y = x @ rng.standard_normal((d, 1)) + noise * rng.standard_normal((n, 1))
    theta0 = {"w": jnp.zeros((d, 1), jnp.float32)}
    return x.astype(np.float32), y.astype(np.float32), theta0


def orthogonal_regression(n=128, d=5, *, seed=0):
    """Features with orthogonal columns: XᵀX/N is diagonal, so Hutchinson's z ∈ {±1}ⁿ is exact."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    x = q * np.sqrt(n) * np.linspace(1.0, 3.0, d)
    y = rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32), {"w": jnp.zeros((d, 1), jnp.float32)}


def hessian(x):
    """XᵀX/N in float64: the Hessian of ``half_squared_error`` of a linear model."""
    x = np.asarray(x, np.float64)
    return x.T @ x / len(x)


def noise_scale(x, y, theta):
    """The exact B_simple = tr(Σ)/|G|² at θ from the per-example gradients (float64)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    per_example = x * (x @ np.asarray(theta, np.float64) - y)
    mean = per_example.mean(axis=0)
    trace = np.mean(np.sum(np.square(per_example - mean), axis=1))
    return trace / np.sum(np.square(mean))
