"""The gradient noise scale against its closed form on linear regression."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from monitor_problems import half_squared_error, linear_apply, noise_scale, regression

from jaxtrain import losses, monitor, nn, optim, train


def test_noise_terms_invert_the_expected_squared_norms():
    # E|G_B|² = |G|² + tr(Σ)/B: two batch sizes give back |G|² = 2 and tr(Σ) = 96.
    squared_norm, trace = monitor.noise_terms(2.0 + 96 / 16, 2.0 + 96 / 48, 16.0, 48.0)
    assert squared_norm == pytest.approx(2.0) and trace == pytest.approx(96.0)


def test_noise_drawn_at_each_step_is_read_as_the_docstring_says():
    # Noise drawn afresh for each example (dropout's masks) has E|G_b|² = |G|² + σ²/b, with
    # no 1/N term; the form for N examples reads its S = σ²/|G|² as S(1 − 1/N)/(1 + S/N).
    signal, sigma2, n = 1.0, 2.15, 4
    expected_norm = lambda b: signal + sigma2 / b  # noqa: E731
    squared_norm, trace = monitor.noise_terms(expected_norm(2), expected_norm(4), 2.0, 4.0, n)
    s = sigma2 / signal
    assert float(trace / squared_norm) == pytest.approx(s * (1 - 1 / n) / (1 + s / n), rel=1e-6)
    assert float(trace / squared_norm) == pytest.approx(1.05, abs=0.01)  # the docstring's run


def test_at_fixed_parameters_b_simple_matches_the_per_example_gradients():
    x, y, theta0 = regression(n=4096, d=8, noise=1.0, seed=3)
    theta = {"w": theta0["w"] + 0.3}  # away from the minimum: |G|² > 0
    exact = noise_scale(x, y, theta["w"])
    _, history = train.fit(
        (linear_apply, theta, {}),
        optax.sgd(0.0),  # parameters stay fixed
        (x, y),
        loss=half_squared_error,
        epochs=8,
        batch_size=64,
        monitors=[monitor.gradient_noise_scale(ema=0.99)],
        progress=False,
    )
    measured = history.per_step["noise_scale"]
    assert np.isfinite(measured).all()
    # Over the run the smoothed estimate settles within 15% of the exact value.
    assert np.median(measured[-200:]) == pytest.approx(exact, rel=0.15)
    assert 1 < exact < 4096


def _unmonitored_and_monitored(model, optimizer, data, **fit_kw):
    """``fit``'s ``(state, history)`` without monitors, then with the noise scale's."""
    return [
        train.fit(
            model,
            optimizer,
            data,
            batch_size=32,
            monitors=monitors,
            progress=False,
            **fit_kw,
        )
        for monitors in ([], [monitor.gradient_noise_scale()])
    ]


def test_halves_give_the_same_training_as_unmonitored_up_to_rounding():
    x, y, theta0 = regression(n=200)
    (plain, plain_history), (monitored, history) = _unmonitored_and_monitored(
        (linear_apply, theta0, {}),
        optim.sgd(0.05, momentum=0.9),
        (x, y),
        loss=half_squared_error,
        epochs=3,
    )
    np.testing.assert_allclose(monitored.params["w"], plain.params["w"], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(history.per_step["loss"], plain_history.per_step["loss"], rtol=2e-5)
    # The last partial batch (200 mod 32 = 8) is measured too.
    assert np.isfinite(history.per_step["noise_scale"]).all()


def test_a_dropout_model_trains_as_unmonitored():
    # Its halves drew other dropout masks than the whole batch's step: the monitor changed
    # the run (parameters 4e-2 apart after 6 steps). A model whose loss draws on the step's
    # key takes the whole-batch step and an extra pass for the halves.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    (plain, _), (watched, history) = _unmonitored_and_monitored(
        nn.MLP(8, 16, 2, depth=1, dropout=0.3, rngs=nnx.Rngs(0)),
        optim.sgd(0.1),
        (x, y),
        loss=losses.softmax_cross_entropy,
        epochs=2,
    )
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(watched.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert np.isfinite(history.per_step["noise_scale"]).all()


def test_batchnorm_and_odd_batches_take_the_extra_half_batch_pass():
    from jaxtrain.data import load_digits

    x, y = load_digits()
    x, y = x[:99], y[:99]
    model = nn.MLP(64, 16, 10, depth=1, norm="batch", rngs=nnx.Rngs(0))
    triple = nn.functional(model)
    _, history = train.fit(
        triple,
        optim.sgd(0.05),
        (x, y),
        loss=losses.softmax_cross_entropy,
        steps=4,
        batch_size=33,  # odd, with BatchNorm
        monitors=[monitor.gradient_noise_scale()],
        progress=False,
    )
    assert np.isfinite(history.per_step["noise_scale"]).all()


def _noise_scales(x, y, theta0, optimizer, *, steps, batch_size):
    """The per-step noise scale of a short run of the linear model."""
    _, history = train.fit(
        (linear_apply, theta0, {}),
        optimizer,
        (x, y),
        loss=half_squared_error,
        steps=steps,
        batch_size=batch_size,
        monitors=[monitor.gradient_noise_scale()],
        progress=False,
    )
    return history.per_step["noise_scale"]


def test_a_batch_of_one_cannot_be_split():
    x, y, theta0 = regression(n=8)
    assert np.isnan(_noise_scales(x, y, theta0, optim.sgd(0.01), steps=3, batch_size=1)).all()


def test_gradients_that_vanish_everywhere_give_no_noise_scale_not_an_infinite_one():
    # Zero targets and zero weights: every per-example gradient is 0, so |G|² = tr(Σ) = 0 and
    # B_simple = 0/0. +inf would claim noise swamps the signal; there is neither.
    x, y, theta0 = regression(n=64)
    scales = _noise_scales(x, np.zeros_like(y), theta0, optax.sgd(0.0), steps=2, batch_size=16)
    assert np.isnan(scales).all()


@pytest.mark.parametrize(("kwargs", "match"), [({"ema": 1.0}, "ema"), ({"every": 0}, "every")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        monitor.gradient_noise_scale(**kwargs)


def test_the_estimates_are_unbiased_for_batches_drawn_without_replacement():
    # Per-example gradients of a small set; halves of batches drawn without replacement, as
    # fit draws them. Averaged over many batches, the corrected estimates hit the exact |G|²
    # and tr(Σ); the independent-draw formulas miss |G|² by about tr(Σ)/N.
    rng = np.random.default_rng(0)
    n, b, d = 64, 8, 3
    grads = rng.standard_normal((n, d)) + 0.2
    mean = grads.mean(axis=0)
    exact_norm = float(mean @ mean)
    exact_trace = float(np.mean(np.sum((grads - mean) ** 2, axis=1)))
    small, big = [], []
    for _ in range(20000):
        rows = rng.permutation(n)[: 2 * b]
        halves = grads[rows[:b]].mean(axis=0), grads[rows[b:]].mean(axis=0)
        small.append(np.mean([h @ h for h in halves]))
        whole = grads[rows].mean(axis=0)
        big.append(whole @ whole)
    small, big = float(np.mean(small)), float(np.mean(big))
    squared_norm, trace = monitor.noise_terms(small, big, b, 2 * b, num_examples=n)
    assert squared_norm == pytest.approx(exact_norm, rel=0.05)
    assert trace == pytest.approx(exact_trace, rel=0.05)
    naive_norm, _ = monitor.noise_terms(small, big, b, 2 * b)
    assert naive_norm == pytest.approx(exact_norm - exact_trace / (n - 1), rel=0.1)


def test_near_the_minimum_of_a_small_set_the_noise_scale_is_corrected():
    # |G|² is about 2·tr(Σ)/N here: uncorrected, B_simple would come out about twice too large.
    x, y, _ = regression(n=512, d=4, noise=1.0, seed=5)
    solution = np.linalg.lstsq(x.astype(np.float64), y.astype(np.float64), rcond=None)[0]
    theta = {"w": np.asarray(solution + 0.04, np.float32)}
    exact = noise_scale(x, y, theta["w"])
    assert 100 < exact < 512
    _, history = train.fit(
        (linear_apply, theta, {}),
        optax.sgd(0.0),
        (x, y),
        loss=half_squared_error,
        epochs=100,
        batch_size=64,
        monitors=[monitor.gradient_noise_scale(ema=0.995)],
        progress=False,
    )
    assert np.median(history.per_step["noise_scale"][-400:]) == pytest.approx(exact, rel=0.15)


def test_a_batch_coupled_model_without_state_can_ask_for_its_own_step():
    # A model that centres its hidden layer on the batch mean (BatchNorm without running
    # statistics) couples a batch's examples without model state: the mean of the halves'
    # gradients is not its gradient. By default the monitor takes the halves' mean as the
    # step (documented); coupled_batch=True keeps the step exactly unmonitored training's.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    p0 = {"w1": jnp.asarray(rng.normal(size=(4, 8)), jnp.float32),
          "w2": jnp.asarray(rng.normal(size=(8, 1)), jnp.float32)}  # fmt: skip

    def apply(p, s, xb, *, train, rng=None):
        h = jnp.tanh(xb @ p["w1"])
        h = h - h.mean(0) if train else h
        return h @ p["w2"], s

    kw = dict(loss=losses.mse, steps=5, batch_size=16, progress=False)
    plain, _ = train.fit((apply, p0, {}), optim.sgd(0.1), (x, y), **kw)
    watched = [monitor.gradient_noise_scale(every=100, coupled_batch=True)]
    exact, history = train.fit((apply, p0, {}), optim.sgd(0.1), (x, y), monitors=watched, **kw)
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(exact.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(history.per_step["noise_scale"][0])
    shared, _ = train.fit(
        (apply, p0, {}), optim.sgd(0.1), (x, y), monitors=[monitor.gradient_noise_scale(100)], **kw
    )
    assert not np.allclose(shared.params["w1"], plain.params["w1"], atol=1e-3)


def test_a_loss_that_is_not_a_mean_is_refused_before_the_halves_change_the_step():
    # Before: with losses.mse(reduction="sum") the step's gradient, the mean of the halves'
    # gradients, was half the batch's: adding the monitor halved every step and the
    # recorded loss (49.03 → 24.51), without a word.
    x, y, theta0 = regression(n=64, d=3)
    total = functools.partial(losses.mse, reduction="sum")
    kwargs = dict(steps=1, batch_size=32, progress=False)
    with pytest.raises(ValueError, match=r"the mean of per-example losses.*coupled_batch=True"):
        train.fit((linear_apply, theta0, {}), optim.sgd(0.001), (x, y), loss=total,
                  monitors=[monitor.gradient_noise_scale()], **kwargs)  # fmt: skip
    # Its whole-batch path trains as without the monitor.
    plain, _ = train.fit((linear_apply, theta0, {}), optim.sgd(0.001), (x, y), loss=total,
                         **kwargs)  # fmt: skip
    coupled, _ = train.fit((linear_apply, theta0, {}), optim.sgd(0.001), (x, y), loss=total,
                           monitors=[monitor.gradient_noise_scale(coupled_batch=True)],
                           **kwargs)  # fmt: skip
    np.testing.assert_allclose(coupled.params["w"], plain.params["w"], rtol=1e-6)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((3.0, 2.0, 64.0, 32.0), {}, "0 < b_small < b_big, got 64.0 and 32.0"),  # tr(Σ) −64
        ((3.0, 2.0, 32.0, 32.0), {}, "0 < b_small < b_big"),  # a ZeroDivisionError
        ((3.0, 2.0, 0.0, 64.0), {}, "0 < b_small < b_big"),
        ((3.0, 2.0, 32.0, 64.0), {"num_examples": 16}, "num_examples ≥ 2 and ≥ b_big = 64.0"),
        ((3.0, 2.0, 32.0, 64.0), {"num_examples": 1}, "num_examples ≥ 2"),
    ],
)
def test_noise_terms_refuses_batch_sizes_that_cannot_be(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        monitor.noise_terms(*args, **kwargs)


def test_a_bfloat16_mean_loss_is_a_mean():
    # The check allows a bfloat16 loss's rounding: a 1e-3 tolerance refused 17 of 40 starts
    # of a float32 model computing in bfloat16 (1.1406 against the halves' 1.1445).
    from jaxtrain.train._checks import check_loss_is_a_mean

    def apply(params, state, x, *, train, rng=None):
        w = params.astype(jnp.bfloat16)
        return x.astype(jnp.bfloat16) @ w, state

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4)).astype(np.float32)
    y = np.array([0, 2], np.int32)
    for seed in range(40):
        w = jax.random.normal(jax.random.key(seed), (4, 3))
        checked = check_loss_is_a_mean(
            losses.softmax_cross_entropy, apply, w, {}, (x, y), monitor_name="noise_scale"
        )
        assert checked is None


def test_noise_terms_still_traces_with_traced_batch_sizes():
    # Its checks read the sizes only when they are known: jit and vmap over them worked
    # before the checks, and do again.
    sizes = jnp.array([32.0, 64.0])
    jitted = jax.jit(monitor.noise_terms)(3.0, 2.0, sizes[0], sizes[1])
    mapped = jax.vmap(lambda b: monitor.noise_terms(3.0, 2.0, b, 2 * b))(sizes)
    np.testing.assert_allclose(jitted, (1.0, 64.0))
    np.testing.assert_allclose(mapped[1], [64.0, 128.0])
