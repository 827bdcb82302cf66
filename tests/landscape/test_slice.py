"""Loss slices: exact on the lecture's toy, equal to a Python loop, one compilation."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jaxtrain.landscape import _slice, loss_slice_1d, loss_surface_2d, random_direction


def toy(w):
    return (1.0 - w[0] * w[1]) ** 2


def _mlp(params, x, y):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] - y) ** 2)


def _problem():
    rng = np.random.default_rng(0)
    params = {
        "w1": jnp.asarray(rng.standard_normal((3, 8)), jnp.float32),
        "b1": jnp.zeros(8),
        "w2": jnp.asarray(rng.standard_normal((8, 1)), jnp.float32),
    }
    x = jnp.asarray(rng.standard_normal((16, 3)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((16, 1)), jnp.float32)
    return params, x, y


def test_escape_direction_slice_of_the_toy():
    alphas = jnp.linspace(-2.0, 2.0, 9)
    u = jnp.array([1.0, 1.0]) / jnp.sqrt(2.0)
    losses = loss_slice_1d(toy, jnp.zeros(2), u, alphas)
    np.testing.assert_allclose(
        np.asarray(losses), (1 - np.asarray(alphas) ** 2 / 2) ** 2, rtol=1e-5, atol=1e-7
    )
    # Across the saddle the loss goes up instead: along (1, −1)/√2 it is (1 + α²/2)².
    up = loss_slice_1d(toy, jnp.zeros(2), jnp.array([1.0, -1.0]) / jnp.sqrt(2.0), alphas)
    np.testing.assert_allclose(np.asarray(up), (1 + np.asarray(alphas) ** 2 / 2) ** 2, rtol=1e-5)


def test_surface_of_the_toy_is_the_error_surface():
    ticks = jnp.linspace(-1.5, 1.5, 7)
    surface = loss_surface_2d(
        toy, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), ticks, ticks[:5]
    )
    assert surface.shape == (7, 5)
    a, b = np.meshgrid(np.asarray(ticks), np.asarray(ticks[:5]), indexing="ij")
    np.testing.assert_allclose(np.asarray(surface), (1 - a * b) ** 2, rtol=1e-6)


@pytest.mark.parametrize("batch_size", [None, 4])
def test_matches_a_python_loop_on_an_mlp(batch_size):
    params, x, y = _problem()
    d1 = random_direction(jax.random.key(0), params)
    d2 = random_direction(jax.random.key(1), params)
    alphas, betas = jnp.linspace(-1.0, 1.0, 5), jnp.linspace(-0.5, 0.5, 3)
    line = loss_slice_1d(_mlp, params, d1, alphas, x, y, batch_size=batch_size)
    plane = loss_surface_2d(_mlp, params, d1, d2, alphas, betas, x, y, batch_size=batch_size)
    for i, a in enumerate(alphas):
        moved = jax.tree.map(lambda p, d, a=a: p + a * d, params, d1)
        np.testing.assert_allclose(float(line[i]), float(_mlp(moved, x, y)), rtol=1e-5)
        for j, b in enumerate(betas):
            moved2 = jax.tree.map(lambda p, u, v, a=a, b=b: p + a * u + b * v, params, d1, d2)
            np.testing.assert_allclose(float(plane[i, j]), float(_mlp(moved2, x, y)), rtol=1e-5)
    # The centre of the plane is θ itself.
    np.testing.assert_allclose(float(plane[2, 1]), float(_mlp(params, x, y)), rtol=1e-6)


def test_one_compilation_per_loss():
    params, x, y = _problem()
    d = random_direction(jax.random.key(0), params)
    loss_slice_1d(_mlp, params, d, jnp.linspace(-1, 1, 5), x, y)
    compiled = _slice._slice_1d._cache_size()
    loss_slice_1d(_mlp, jax.tree.map(lambda p: 2 * p, params), d, jnp.linspace(0, 2, 5), x, y)
    # The same loss on new parameters, steps and data: the same program.
    loss_slice_1d(_mlp, params, d, jnp.linspace(0, 2, 5), x, 1 - y)
    assert _slice._slice_1d._cache_size() == compiled
    # Another function is another program, as for jax.jit, even computing the same.
    loss_slice_1d(lambda p, x, y: _mlp(p, x, y), params, d, jnp.linspace(0, 2, 5), x, y)
    assert _slice._slice_1d._cache_size() == compiled + 1


def test_bad_inputs():
    with pytest.raises(ValueError, match="direction must have the pytree structure"):
        loss_slice_1d(toy, jnp.zeros(2), {"a": jnp.zeros(2)}, jnp.zeros(3))
    with pytest.raises(ValueError, match="does not match"):
        loss_slice_1d(toy, jnp.zeros(2), jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="alphas must be a non-empty 1-D array"):
        loss_slice_1d(toy, jnp.zeros(2), jnp.zeros(2), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="betas must be a non-empty 1-D array"):
        loss_surface_2d(toy, jnp.zeros(2), jnp.zeros(2), jnp.zeros(2), jnp.zeros(3), jnp.zeros(0))
    with pytest.raises(ValueError, match="d2 must have the pytree structure"):
        loss_surface_2d(toy, jnp.zeros(2), jnp.zeros(2), [jnp.zeros(2)], jnp.zeros(3), jnp.zeros(3))


@pytest.mark.parametrize(
    "loss",
    [
        lambda w: (1.0 - w * w[::-1]) ** 2,  # the mean forgotten: one value per weight
        lambda w: (toy(w), w),  # (loss, aux), as for jax.value_and_grad(has_aux=True)
    ],
)
def test_a_loss_that_is_not_a_scalar_is_refused(loss):
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        loss_slice_1d(loss, jnp.zeros(2), jnp.ones(2), jnp.zeros(3))
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
        loss_surface_2d(loss, jnp.zeros(2), e1, e2, jnp.zeros(3), jnp.zeros(2))


@pytest.mark.parametrize("direction_dtype", [jnp.bfloat16, jnp.float32])
def test_bfloat16_points_are_rounded_once(direction_dtype):
    # α and d were cast to bfloat16 and α·d rounded before θ + α·d was: points an ulp or
    # more off θ + α·d. Reference: θ + α·d in NumPy float64, rounded once to bfloat16; a
    # point may take either neighbour where the reference is within 2⁻²⁰ (relative) of a
    # tie, the error of θ + α·d computed in float32.
    rng = np.random.default_rng(3)
    params = jnp.asarray(rng.standard_normal(8), jnp.bfloat16)
    direction = jnp.asarray(rng.standard_normal(8), direction_dtype)
    alphas = jnp.linspace(-0.9, 0.9, 7)

    def entry(w, i):
        return w.astype(jnp.float32)[i]

    exact = np.asarray(params, np.float64) + np.outer(
        np.asarray(alphas, np.float64), np.asarray(direction, np.float64)
    )
    low, high = (
        (exact * (1 + s * 2.0**-20)).astype(ml_dtypes.bfloat16).astype(np.float64) for s in (-1, 1)
    )
    for i in range(8):
        line = np.asarray(loss_slice_1d(entry, params, direction, alphas, i), np.float64)
        plane = loss_surface_2d(entry, params, direction, direction, alphas, jnp.zeros(1), i)
        for got in (line, np.asarray(plane[:, 0], np.float64)):
            assert np.all((got == low[:, i]) | (got == high[:, i])), (i, got, low[:, i])


def test_integer_parameters_are_refused_by_name():
    # An integer θ truncated every α to an integer: α = 0.5 was evaluated at θ.
    params = {"w": jnp.zeros(2), "count": jnp.zeros(2, jnp.int32)}
    with pytest.raises(ValueError, match=r"\['count'\].*int32"):
        loss_slice_1d(lambda p: jnp.sum(p["w"]), params, params, jnp.array([0.5]))
    with pytest.raises(ValueError, match=r"\['count'\].*int32"):
        loss_surface_2d(lambda p: jnp.sum(p["w"]), params, params, params, jnp.ones(1), jnp.ones(1))


def test_complex_coordinates_and_directions_of_real_parameters_are_refused():
    # Both lost their imaginary part silently: α = 1j was evaluated at θ.
    with pytest.raises(ValueError, match="alphas must be real"):
        loss_slice_1d(toy, jnp.zeros(2), jnp.ones(2), jnp.array([1j]))
    with pytest.raises(ValueError, match="betas must be real"):
        loss_surface_2d(toy, jnp.zeros(2), jnp.ones(2), jnp.ones(2), jnp.ones(1), jnp.array([1j]))
    with pytest.raises(ValueError, match="d1 leaf is complex"):
        e = jnp.array([1j, 0.0])
        loss_surface_2d(toy, jnp.zeros(2), e, jnp.ones(2), jnp.ones(1), jnp.ones(1))


@pytest.mark.parametrize("batch_size", [2.0, True])
def test_a_batch_size_that_is_no_int_is_refused(batch_size):
    loss = lambda w: jnp.sum(w**2)  # noqa: E731
    with pytest.raises(ValueError, match="batch_size must be a positive int or None"):
        loss_slice_1d(loss, jnp.ones(2), jnp.ones(2), jnp.arange(5.0), batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive int or None"):
        loss_surface_2d(
            loss,
            jnp.ones(2),
            jnp.ones(2),
            jnp.ones(2),
            jnp.arange(3.0),
            jnp.arange(3.0),
            batch_size=batch_size,
        )


def test_what_the_loss_closes_over_is_read_at_each_call():
    # Compared by identity, a loss closing over its data kept the first call's data forever.
    x = jnp.array([1.0, 2.0])
    w = jnp.zeros(2)
    d = jnp.array([1.0, 0.0])
    alphas = jnp.array([0.0, 1.0])

    def loss(p):
        return jnp.sum((p - x) ** 2)

    first = loss_slice_1d(loss, w, d, alphas)
    np.testing.assert_allclose(first, [5.0, 4.0])
    x = jnp.array([3.0, 0.0])
    np.testing.assert_allclose(loss_slice_1d(loss, w, d, alphas), [9.0, 4.0])
    plane = loss_surface_2d(loss, w, d, jnp.array([0.0, 1.0]), alphas, alphas)
    np.testing.assert_allclose(plane, [[9.0, 10.0], [4.0, 5.0]])
