"""Steps per second of ``jaxtrain.train.fit`` against hand-written training loops.

The same MLP (``jaxtrain.nn.MLP``, ReLU, no normalization) on the same data (scikit-learn's
digits, 1,797 × 64) with the same optimizer (``optax.sgd`` with momentum 0.9), trained by:

- ``fit``: shuffled batches, a whole epoch as one jitted loop (``lax.fori_loop`` over a
  run-time step count), plus what a hand loop skips:
  per-step loss, gradient norm and learning-rate records and the non-finite guard (no
  metrics, as in the hand loops). Each epoch's permutation is NumPy's, drawn on the host;
- ``hand scan``: a hand-written jitted optax + flax (NNX split/merge) epoch: ``lax.scan``
  over the shuffled batches, donated state, nothing recorded but the loss; its permutation
  is NumPy's, drawn on the host as ``fit``'s is, so that the two do the same work but for
  what ``fit`` adds (the reference of ``fit``'s ratio);
- ``scan+sort``: the same scan after the usual ``jax.random.permutation`` (XLA sorts random
  numbers: 1.3 ms of a ~7 ms epoch here, on a CPU), as most hand-written loops shuffle;
- ``hand loop``: the usual hand-written loop, one jitted (donated) step called from Python
  per batch on device-resident data;
- ``torch``: the same network in PyTorch (when torch is installed), the usual loop over a
  ``randperm`` of a tensor, on the CPU or on ``--torch-device`` (``cuda``: the same GPU as
  JAX's, synchronized at the end of each epoch as JAX's epochs are).

Every variant handles the last partial batch as one more (smaller) step. All run in one
process and compile (or warm up) first; then each round times ``EPOCHS_PER_ROUND`` epochs of
every variant in turn by the wall clock (``fit``: one call of that many epochs, so its
per-epoch host work, the history's rows, counts, and its one-off set-up per call is spread
over them), so load from other processes falls on all of them alike. The table shows steps
per second, median and best over the rounds, and ``fit``'s ratio to each; a line below splits
``fit``'s time into its set-up per call and its steps per second beyond it (from calls of 1
and of E epochs). A second table times one ``fit`` epoch as the batch size grows (lecture §3:
larger batches take fewer, longer steps, and at full batch an epoch is a single step). A third
times whole full-batch runs (300 one-step epochs): ``fit``, ``fit`` with one compiled call per
epoch (as before it joined short epochs), and a hand-written ``lax.scan`` of the 300 steps in
one call.

    python benchmarks/train.py            # 25 rounds
    python benchmarks/train.py --quick    # fewer rounds, a smaller network, a few seconds
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxtrain.data import load_digits
from jaxtrain.losses import softmax_cross_entropy
from jaxtrain.nn import MLP, functional
from jaxtrain.train import fit

LEARNING_RATE, MOMENTUM = 0.05, 0.9
# Epochs per variant per round of the steps-per-second table.
EPOCHS_PER_ROUND = 40


def make_model(hidden: int, depth: int) -> MLP:
    return MLP(64, hidden, 10, depth=depth, rngs=nnx.Rngs(0))


def quiet_fit(triple, optimizer, x, y, batch_size: int | None, **length):
    """``fit`` on ``(x, y)`` with the cross-entropy and no progress bar; ``length`` is
    ``epochs=`` or ``steps=``."""
    return fit(
        triple,
        optimizer,
        (x, y),
        loss=softmax_cross_entropy,
        batch_size=batch_size,
        progress=False,
        **length,
    )


def fit_epoch_seconds(triple, optimizer, x, y, batch_size: int, epochs: int) -> list[float]:
    """Seconds of each ``fit`` epoch. The same triple and optimizer objects reuse the
    compiled epoch across calls, so only the very first call compiles."""
    _, history = quiet_fit(triple, optimizer, x, y, batch_size, epochs=epochs)
    return list(history.per_epoch["epoch_time"])


def fit_seconds(triple, optimizer, x, y, batch_size: int, epochs: int) -> float:
    """Wall-clock seconds of one ``fit`` call of ``epochs`` epochs, until its parameters are
    ready: everything a user waits for."""
    began = time.perf_counter()
    state, _ = quiet_fit(triple, optimizer, x, y, batch_size, epochs=epochs)
    jax.block_until_ready(state.params)
    return time.perf_counter() - began


def hand_scan(model, x, y, batch_size: int, *, shuffle: str = "host"):
    """A hand-written scanned epoch (NNX split/merge, optax). Returns ``run_epoch(seed)``.

    ``shuffle``: ``"host"``, NumPy's permutation as ``fit`` draws it, or ``"xla"``,
    ``jax.random.permutation`` on the device.
    """
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    n = len(x)
    nb, cut = n // batch_size, (n // batch_size) * batch_size

    def loss_fn(p, xb, yb):
        logits = nnx.merge(graphdef, p, rest, copy=True)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry, idx):
        p, opt_state = carry
        value, grads = jax.value_and_grad(loss_fn)(p, x_dev[idx], y_dev[idx])
        updates, opt_state = tx.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), value

    @jax.jit
    def device_permutation(key):
        perm = jax.random.permutation(key, n)
        return perm[:cut].reshape(nb, batch_size), perm[cut:]

    rng = np.random.default_rng(0)

    def permutation(seed: int):
        if shuffle == "xla":
            return device_permutation(jax.random.key(seed))
        perm = rng.permutation(n).astype(np.int32)
        return jnp.asarray(perm[:cut].reshape(nb, batch_size)), jnp.asarray(perm[cut:])

    @jax.jit
    def full_batches(carry, idx):
        return jax.lax.scan(step, carry, idx)

    @jax.jit
    def last_batch(carry, idx):
        return step(carry, idx)

    x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)
    full_batches = jax.jit(full_batches, donate_argnums=0)
    last_batch = jax.jit(last_batch, donate_argnums=0)
    state = [(jax.tree.map(jnp.copy, params), tx.init(params))]

    def run_epoch(seed: int) -> int:
        full, rest_idx = permutation(seed)
        carry, _ = full_batches(state[0], full)
        if cut < n:
            carry, _ = last_batch(carry, rest_idx)
        jax.block_until_ready(carry)
        state[0] = carry
        return nb + (cut < n)

    return run_epoch


def hand_loop(model, x, y, batch_size: int):
    """The usual loop: a jitted step called from Python per batch."""
    apply, params, state = functional(model)
    tx = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)

    @jax.jit
    def step(p, opt_state, idx):
        def loss_fn(p):
            logits, _ = apply(p, state, x_dev[idx], train=True)
            return softmax_cross_entropy(logits, y_dev[idx])

        value, grads = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, value

    step = jax.jit(step, donate_argnums=(0, 1))
    carry = [jax.tree.map(jnp.copy, params), tx.init(params)]
    rng = np.random.default_rng(0)

    def run_epoch(seed: int) -> int:
        perm = jnp.asarray(rng.permutation(len(x)).astype(np.int32))
        count = 0
        p, o = carry
        for start in range(0, len(x), batch_size):
            p, o, _ = step(p, o, perm[start : start + batch_size])
            count += 1
        jax.block_until_ready(p)
        carry[:] = [p, o]
        return count

    return run_epoch


def torch_loop(hidden: int, depth: int, x, y, batch_size: int, threads: int, device: str = "cpu"):
    """The same MLP and optimizer in PyTorch on ``device``; ``None`` when torch is missing."""
    try:
        import torch
    except ImportError:
        print(f"  batch {batch_size}: torch is not installed: its loop skipped")
        return None
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        # JAX's default precision on a GPU gives float32 matrix products TF32 passes; PyTorch's
        # does not. Both take them here, so the comparison is of the loops, not the precision.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    layers, width = [], 64
    for _ in range(depth):
        layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        width = hidden
    net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    xt = torch.from_numpy(x).to(device)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run_epoch(seed: int) -> int:
        perm = torch.randperm(len(xt), device=device)
        count = 0
        for start in range(0, len(xt), batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(xt[idx]), yt[idx]).backward()
            opt.step()
            count += 1
        if xt.is_cuda:  # kernels run asynchronously: the epoch ends when they are done
            torch.cuda.synchronize()
        return count

    return run_epoch


def timed(run_epoch, seeds: range) -> tuple[int, float]:
    """Steps and wall-clock seconds of one epoch per seed."""
    began = time.perf_counter()
    steps = sum(run_epoch(seed) for seed in seeds)
    return steps, time.perf_counter() - began


def compare(
    batch_size: int,
    *,
    hidden: int,
    depth: int,
    rounds: int,
    x,
    y,
    torch_threads: int,
    torch_device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Median and best steps per second of each variant at ``batch_size``; ``fit``'s entry
    also holds its set-up per call and its steps per second beyond it."""
    model = make_model(hidden, depth)
    triple = functional(model)
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    loops = {
        "hand scan": hand_scan(model, x, y, batch_size),
        "scan+sort": hand_scan(model, x, y, batch_size, shuffle="xla"),
        "hand loop": hand_loop(model, x, y, batch_size),
    }
    torch_run = torch_loop(hidden, depth, x, y, batch_size, torch_threads, torch_device)
    if torch_run is not None:
        loops["torch"] = torch_run
    rates: dict[str, list[float]] = {name: [] for name in ("fit", *loops)}
    # fit's wall time as set-up + epochs × per-epoch: from calls of 1 and of E epochs.
    one_epoch_seconds, marginal_rates = [], []
    steps_per_epoch = -(-len(x) // batch_size)
    fit_seconds(triple, optimizer, x, y, batch_size, epochs=1)  # compile
    for run in loops.values():
        run(0)  # compile / warm up
    # A few epochs of each variant per round, so that load from other processes hits all alike.
    for r in range(rounds):
        seconds = fit_seconds(triple, optimizer, x, y, batch_size, EPOCHS_PER_ROUND)
        rates["fit"].append(EPOCHS_PER_ROUND * steps_per_epoch / seconds)
        one_epoch_seconds.append(fit_seconds(triple, optimizer, x, y, batch_size, 1))
        per_epoch = (seconds - one_epoch_seconds[-1]) / (EPOCHS_PER_ROUND - 1)
        marginal_rates.append(steps_per_epoch / per_epoch)
        seeds = range(1 + r * EPOCHS_PER_ROUND, 1 + (r + 1) * EPOCHS_PER_ROUND)
        for name, run in loops.items():
            steps, seconds = timed(run, seeds)
            rates[name].append(steps / seconds)
    summary = {
        name: {"median": statistics.median(values), "best": max(values)}
        for name, values in rates.items()
    }
    marginal = statistics.median(marginal_rates)
    summary["fit"]["set_up_seconds"] = statistics.median(one_epoch_seconds) - (
        steps_per_epoch / marginal
    )
    summary["fit"]["steps_per_second_after_set_up"] = marginal
    return summary


def epoch_times(hidden: int, depth: int, x, y, rounds: int) -> dict[int, float]:
    """Median seconds of one ``fit`` epoch at batch sizes 1, 32, 512 and N (full batch)."""
    triple = functional(make_model(hidden, depth))
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    out = {}
    for batch_size in (1, 32, 512, len(x)):
        fit_epoch_seconds(triple, optimizer, x, y, batch_size, epochs=1)  # compile
        out[batch_size] = statistics.median(
            fit_epoch_seconds(triple, optimizer, x, y, batch_size, epochs=rounds)
        )
    return out


def full_batch_runs(hidden: int, depth: int, x, y, steps: int, rounds: int) -> dict[str, float]:
    """Median seconds of a whole full-batch run of ``steps`` steps, wall clock, per variant."""
    from jaxtrain.train import _feed

    model = make_model(hidden, depth)
    triple = functional(model)
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    x_dev, y_dev = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(p):
        logits = nnx.merge(graphdef, p, rest, copy=True)(x_dev)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y_dev).mean()

    @functools.partial(jax.jit, donate_argnums=0)
    def scanned(carry):
        def step(carry, _):
            p, opt_state = carry
            value, grads = jax.value_and_grad(loss_fn)(p)
            updates, opt_state = optimizer.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state), value

        return jax.lax.scan(step, carry, length=steps)

    def hand() -> None:
        carry = (jax.tree.map(jnp.copy, params), optimizer.init(params))
        jax.block_until_ready(scanned(carry))

    def fitted(steps_per_call: int):
        def run() -> None:
            saved, _feed._STEPS_PER_CALL = _feed._STEPS_PER_CALL, steps_per_call
            try:
                state, _ = quiet_fit(triple, optimizer, x, y, None, steps=steps)
                jax.block_until_ready(state.params)
            finally:
                _feed._STEPS_PER_CALL = saved

        return run

    variants = {
        "fit": fitted(_feed._STEPS_PER_CALL),
        "fit, a call per epoch": fitted(1),
        "hand scan": hand,
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()  # compile
    for _ in range(rounds):
        for name, run in variants.items():
            began = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - began)
    return {name: statistics.median(values) for name, values in seconds.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="PyTorch intra-op threads (1 by default: on a busy 2-core machine 2 torch threads "
        "contend badly; XLA keeps its own thread pool, which on these small steps does up to "
        "a third of the work on a second thread)",
    )
    parser.add_argument(
        "--torch-device", default="cpu", help="where PyTorch runs: cpu, or cuda (JAX's GPU)"
    )
    args = parser.parse_args(argv)
    hidden, depth, rounds = (32, 1, 3) if args.quick else (128, 2, 25)
    x, y = load_digits()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}; MLP 64-{hidden}x{depth}-10, "
        f"digits N={len(x)}, SGD momentum {MOMENTUM}; {rounds} interleaved rounds of "
        f"{EPOCHS_PER_ROUND} epochs per variant, wall clock (median and best)\n"
    )

    results = {}
    header = (
        f"{'batch':>6} {'variant':>10} {'steps/s median':>15} {'fit/variant':>12} "
        f"{'steps/s best':>13} {'fit/variant':>12}"
    )
    print(header)
    print("-" * len(header))
    for batch_size in (32, 512):
        rates = compare(
            batch_size,
            hidden=hidden,
            depth=depth,
            rounds=rounds,
            x=x,
            y=y,
            torch_threads=args.torch_threads,
            torch_device=args.torch_device,
        )
        results[batch_size] = rates
        fit_rates = rates["fit"]
        for name, rate in rates.items():
            ratios = (
                ["", ""]
                if name == "fit"
                else [f"{fit_rates[k] / rate[k]:.2f}" for k in ("median", "best")]
            )
            print(
                f"{batch_size:>6} {name:>10} {rate['median']:>15.0f} {ratios[0]:>12} "
                f"{rate['best']:>13.0f} {ratios[1]:>12}"
            )
        marginal = fit_rates["steps_per_second_after_set_up"]
        print(
            f"{'':>6} fit's set-up per call (checks, initial state, data placement) "
            f"{1e3 * fit_rates['set_up_seconds']:.1f} ms; beyond it {marginal:.0f} steps/s, "
            f"{marginal / rates['hand scan']['median']:.2f}× the hand scan's"
        )

    print(f"\nfit, median epoch\n{'batch':>6} {'steps/epoch':>12} {'ms/epoch':>10} {'ms/step':>9}")
    per_epoch = epoch_times(hidden, depth, x, y, rounds)
    for batch_size, seconds in per_epoch.items():
        steps = -(-len(x) // batch_size)
        print(f"{batch_size:>6} {steps:>12} {1e3 * seconds:>10.1f} {1e3 * seconds / steps:>9.3f}")

    steps = 300
    print(f"\nfull batch, {steps} steps in all, median wall time of the whole run")
    runs = full_batch_runs(hidden, depth, x, y, steps, rounds=max(3, rounds // 3))
    for name, seconds in runs.items():
        ratio = runs["fit"] / seconds
        print(
            f"{name:>22} {1e3 * seconds:>8.1f} ms  {1e3 * seconds / steps:>6.3f} ms/step  "
            f"fit time / this {ratio:.2f}"
        )
    return {"rates": results, "epoch_seconds": per_epoch, "full_batch_seconds": runs}


if __name__ == "__main__":
    main()
