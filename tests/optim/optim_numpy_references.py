"""NumPy float64 references of each update rule, written from the papers' formulas.

Each function takes a (T, n) array of gradients g⁰ … gᵀ⁻¹ and returns the (T, n) directions
(or steps) the rule produces, so a property test can compare a transform step by step.
"""

from __future__ import annotations

import numpy as np


def momentum(grads, decay, nesterov=False):
    """b ← g + λb; direction b (heavy ball) or g + λb (Nesterov)."""
    b = np.zeros(grads.shape[1])
    out = []
    for g in grads:
        b = g + decay * b
        out.append(g + decay * b if nesterov else b)
    return np.array(out)


def lecture_momentum_iterates(theta0, grads_fn, learning_rate, decay, num_steps):
    """The lecture's form: m ← λm − ηg(θ), θ ← θ + m."""
    theta, m = np.array(theta0, np.float64), np.zeros_like(theta0, np.float64)
    path = [theta.copy()]
    for _ in range(num_steps):
        m = decay * m - learning_rate * grads_fn(theta)
        theta = theta + m
        path.append(theta.copy())
    return np.array(path)


def adagrad_sum(grads, initial_accumulator_value, eps):
    """σ = √(s₀ + Σ g² + ε); direction g/σ (0 while the sum is 0)."""
    s = np.full(grads.shape[1], initial_accumulator_value, np.float64)
    out = []
    for g in grads:
        s = s + g * g
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(s > 0, g / np.sqrt(s + eps), 0.0))
    return np.array(out)


def adagrad_mean(grads, eps):
    """The lecture's σᵗ = √((ε + Σₖ₌₀ᵗ g²)/(t + 1)); direction g/σ (0 while the sum is 0)."""
    s = np.zeros(grads.shape[1])
    out = []
    for t, g in enumerate(grads):
        s = s + g * g
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(s > 0, g / np.sqrt((s + eps) / (t + 1)), 0.0))
    return np.array(out)


def rmsprop(
    grads,
    decay,
    eps,
    initial_scale=0.0,
    eps_in_sqrt=True,
    bias_correction=False,
    centered=False,
    momentum=None,
    nesterov=False,
):
    """σ² ← ασ² + (1 − α)g² (and m̄ ← αm̄ + (1 − α)g when centered); direction g/σ."""
    nu = np.full(grads.shape[1], initial_scale, np.float64)
    mu = np.zeros(grads.shape[1])
    trace = np.zeros(grads.shape[1])
    out = []
    for t, g in enumerate(grads, start=1):
        nu = decay * nu + (1 - decay) * g * g
        mu = decay * mu + (1 - decay) * g
        correction = 1 - decay**t if bias_correction else 1.0
        second = nu / correction
        if centered:
            second = second - (mu / correction) ** 2
        denominator = np.sqrt(second + eps) if eps_in_sqrt else np.sqrt(second) + eps
        direction = g / denominator
        if momentum is not None:
            trace = direction + momentum * trace
            direction = direction + momentum * trace if nesterov else trace
        out.append(direction)
    return np.array(out)


def adam(grads, b1, b2, eps, eps_root=0.0):
    """Kingma and Ba's Algorithm 1: m̂/(√(v̂ + ε̄) + ε)."""
    m = np.zeros(grads.shape[1])
    v = np.zeros(grads.shape[1])
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        out.append(m_hat / (np.sqrt(v_hat + eps_root) + eps))
    return np.array(out)


def radam(grads, b1, b2, eps, threshold=5.0):
    """Liu et al. 2020, Algorithm 2: rectified step once ρₜ ≥ threshold, m̂ before."""
    m = np.zeros(grads.shape[1])
    v = np.zeros(grads.shape[1])
    rho_inf = 2 / (1 - b2) - 1
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho >= threshold:
            v_hat = v / (1 - b2**t)
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            out.append(r * m_hat / (np.sqrt(v_hat) + eps))
        else:
            out.append(m_hat)
    return np.array(out)


def transform_directions(transform, grads, params=None, *, use_jit=False):
    """Runs a GradientTransformation over the rows of ``grads``; returns the stacked outputs."""
    import jax
    import jax.numpy as jnp

    state = transform.init(jnp.asarray(grads[0]) if params is None else params)
    update = jax.jit(transform.update) if use_jit else transform.update
    out = []
    for g in grads:
        direction, state = update(jnp.asarray(g), state, params)
        out.append(np.asarray(direction))
    return np.array(out)
