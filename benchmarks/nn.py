"""Forward + backward time of ``jaxtrain.nn.BatchNorm`` vs ``flax.nnx.BatchNorm`` in one network.

The network is ``jaxtrain.nn.MLP`` with a BatchNorm after every hidden linear layer; only the
norm class differs (the MLP draws the same initial weights for either). Each variant is split
into ``nnx.Param`` and the rest, and one training step's loss and gradient,
``jax.jit(jax.value_and_grad(loss, has_aux=True))`` with the new running statistics as aux, is
timed. Variants run in one process, compiled first, then timed in interleaved rounds; the
table shows the median time per step and the ratio to Flax with the same (two-pass) variance.
Flax's default one-pass variance (``use_fast_variance=True``) is shown too: it is faster by one
reduction, and wrong for inputs with a large mean (see the BatchNorm docstring).

    python benchmarks/nn.py            # batch 256, 4 hidden layers of 512
    python benchmarks/nn.py --quick    # tiny sizes, a few seconds
"""

from __future__ import annotations

import argparse
import collections
import functools
import re
import statistics
import time

import jax
import numpy as np
from flax import nnx

from jaxtrain.losses import softmax_cross_entropy
from jaxtrain.nn import MLP, BatchNorm

VARIANTS = {
    "jaxtrain.nn.BatchNorm": BatchNorm,
    "nnx.BatchNorm (two-pass)": functools.partial(nnx.BatchNorm, use_fast_variance=False),
    "nnx.BatchNorm (default)": nnx.BatchNorm,
}
REFERENCE = "nnx.BatchNorm (two-pass)"


def make_step(norm, *, in_features: int, hidden: int, depth: int, classes: int):
    """The jitted loss-and-gradient step of the MLP with ``norm``, and its split variables."""
    model = MLP(in_features, hidden, classes, depth=depth, norm=norm, rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(params, rest, x, y):
        # copy=True: merging arguments of a transformed function reuses their Variables, which
        # belong to the outer (jit) trace; mutating them from inside grad is a TraceContextError.
        module = nnx.merge(graphdef, params, rest, copy=True)
        logits = module(x)
        return softmax_cross_entropy(logits, y), nnx.state(module, nnx.BatchStat)

    return jax.jit(jax.value_and_grad(loss, has_aux=True)), params, rest


def op_counts(step, *args) -> collections.Counter:
    """Instruction counts by opcode of the compiled step (names and layouts aside)."""
    text = step.lower(*args).compile().as_text()
    return collections.Counter(re.findall(r"= \S+ (\w+)\(", text))


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50, help="timed calls per round")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.hidden, args.depth, args.rounds, args.calls = 32, 32, 2, 5, 20
    in_features, classes = 64, 10
    x = jax.random.normal(jax.random.key(0), (args.batch, in_features))
    y = jax.random.randint(jax.random.key(1), (args.batch,), 0, classes)

    steps = {}
    for name, norm in VARIANTS.items():
        step, params, rest = make_step(
            norm, in_features=in_features, hidden=args.hidden, depth=args.depth, classes=classes
        )
        jax.block_until_ready(step(params, rest, x, y))  # compile outside the timing
        steps[name] = (step, params, rest)

    # Same numbers from both two-pass variants: the benchmark compares equal work.
    (loss_ours, _), grads_ours = steps["jaxtrain.nn.BatchNorm"][0](
        *steps["jaxtrain.nn.BatchNorm"][1:], x, y
    )
    (loss_ref, _), grads_ref = steps[REFERENCE][0](*steps[REFERENCE][1:], x, y)
    np.testing.assert_allclose(loss_ours, loss_ref, rtol=1e-5)
    np.testing.assert_allclose(
        jax.flatten_util.ravel_pytree(nnx.to_pure_dict(grads_ours))[0],
        jax.flatten_util.ravel_pytree(nnx.to_pure_dict(grads_ref))[0],
        rtol=1e-4,
        atol=1e-6,
    )

    same_program = op_counts(*steps["jaxtrain.nn.BatchNorm"], x, y) == op_counts(
        *steps[REFERENCE], x, y
    )

    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_index in range(args.rounds):
        # Rotate the order each round so no variant always runs first (cache, clock drift).
        names = list(steps)
        names = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in names:
            step, params, rest = steps[name]
            start = time.perf_counter()
            for _ in range(args.calls):
                out = step(params, rest, x, y)
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - start) / args.calls)

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"MLP {in_features}-{args.hidden}x{args.depth}-{classes} with BatchNorm after each hidden "
        f"layer, batch {args.batch}, jit(value_and_grad), {jax.devices()[0].platform}, "
        f"{args.rounds} rounds x {args.calls} calls"
    )
    print(f"{'norm':<28}{'median ms/step':>15}{'ratio':>8}")
    for name, median in medians.items():
        print(f"{name:<28}{1e3 * median:15.3f}{median / medians[REFERENCE]:8.3f}")
    print(f"compiled programs of jaxtrain and {REFERENCE}: same op counts: {same_program}")
    return medians


if __name__ == "__main__":
    main()
