"""The escape transforms count every forward pass of the loss they run, and the race's cost
adds them all up.

Each Lanczos run builds its Hessian-vector products by linearizing ∇L at θ
(:func:`jaxtrain.curvature.hvp`): one forward and backward pass, a gradient's worth, that the
products then reuse. It used to go uncounted, so the lecture and ``benchmarks/escape.py``
showed negative-curvature descent's escape from the toy at cost 6 where it ran 7 gradients
and products. Forward passes are counted here with a ``jax.debug.callback`` in the loss: it
fires once per evaluation of L, in a gradient too, but not in the linear part of a
Hessian-vector product.
"""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from jaxtrain import lecture, optim
from jaxtrain.lecture import _saddle_escapes as escapes


def toy(w):  # the lecture's (1 − w₁w₂)²: a saddle at 0 with λmin = −2
    return (1.0 - w[0] * w[1]) ** 2


def _counted(loss):
    """``loss`` that appends to the returned list at every forward evaluation."""
    calls = []

    def counted(w):
        jax.debug.callback(lambda: calls.append(1))
        return loss(w)

    return counted, calls


def _ncd():
    return optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=4.0)


def _sfn():
    return optim.saddle_free_newton(2, hessian_lipschitz=4.0)


@pytest.mark.parametrize(
    ("factory", "w", "gradients"),
    [
        (_ncd, [0.0, 0.0], 1),  # at the saddle: one Lanczos run
        (_ncd, [0.3, -0.2], 0),  # ‖g‖ > ε_g: the wrapped sgd, no Hessian work
        (_sfn, [0.0, 0.0], 1),  # at the saddle: the negative-curvature step
        (_sfn, [0.3, -0.2], 1),  # the Newton step from g
        # ‖g‖ < ε_g near the minimum w₁ = w₂ = 1 (λmin > 0): a run from the warm start and
        # a second from g, over one linearization.
        (_sfn, [1.0 + 1e-4, 1.0 - 1e-4], 1),
    ],
    ids=["ncd_saddle", "ncd_far", "sfn_saddle", "sfn_far", "sfn_small_g_minimum"],
)
def test_the_state_counts_every_forward_pass_of_the_loss_in_an_update(factory, w, gradients):
    opt = factory()
    loss, calls = _counted(toy)
    w = jnp.asarray(w)
    update = jax.jit(lambda g, s, p: opt.update(g, s, p, obj_fn=loss))
    state = opt.init(w)
    jax.block_until_ready(update(jax.grad(toy)(w), state, w))  # compiling traces, not runs
    jax.effects_barrier()
    calls.clear()
    updates, new_state = update(jax.grad(toy)(w), state, w)
    jax.block_until_ready(updates)
    jax.effects_barrier()
    assert int(new_state.gradient_evaluations) == gradients
    assert len(calls) == gradients + int(new_state.loss_evaluations)


@pytest.mark.parametrize("method", ["negative-curvature descent", "saddle-free Newton"])
def test_the_race_cost_counts_the_linearizations(method):
    # The race evaluates L once at the start and once after each step (its own record, not
    # the method's cost), and the method's gradient g at each step; everything else that runs
    # L is the transform's: its line searches' losses and its linearizations of ∇L, which
    # the cost counts as gradients beside the Hessian-vector products.
    (case,) = escapes.planted_saddles(lecture.LectureConfig(quick=True))
    loss, calls = _counted(case.loss_fn)
    case = dataclasses.replace(case, loss_fn=loss)
    curvature = (-2.0, 2.0)  # the toy's λmin and λmax at 0
    run = escapes.escape_run(escapes._optimizer(method, case, 0, curvature), case)
    jax.effects_barrier()
    steps = run.losses.size - 1
    assert run.steps == steps  # it escaped (a handful of steps)
    race_record = 1 + steps
    assert run.gradients == len(calls) - race_record - run.loss_evaluations
    assert run.gradients > steps  # the linearizations: one per Lanczos run
    assert run.cost == run.gradients + run.hessian_vector_products


def test_the_benchmark_tables_say_what_they_count():
    # benchmarks/escape.py: the cost header names the linearizations, and ℓ is the largest
    # |λ| (perturbation_settings' rule), printed as such where |λmin| > λmax (before: "λmax",
    # and λmax's value).
    import pathlib
    import runpy

    import numpy as np

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "escape.py"
    benchmark = runpy.run_path(str(path), run_name="escape_benchmark")
    (case,) = escapes.planted_saddles(lecture.LectureConfig(quick=True))
    run = escapes.EscapeRun(
        steps=3,
        cost=3,
        gradients=3,
        hessian_vector_products=0,
        loss_evaluations=0,
        perturbations=1,
        final_loss=0.1,
        losses=np.zeros(4),
    )
    runs = {method: run for method in escapes.METHODS}
    text = benchmark["tables"]({case.name: runs}, {case.name: case.budget}, {case.name: -3.0})
    assert "one per Lanczos run" in text
    settings = benchmark["settings_table"]([case], {case.name: (-3.0, 1.0)}, {case.name: runs})
    header, _, row = settings.splitlines()[1:4]
    assert "ℓ=max|λ|" in header and "λmax" not in header
    assert row.split()[len(case.name.split())] == "3"  # the column after the case's name
