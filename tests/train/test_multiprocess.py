"""Several processes train as one: JAX's distributed runtime on localhost, CPU collectives.

Each test starts N Python processes that each call ``jax.distributed.initialize`` (the
coordinator on a free localhost port, ``jax_cpu_collectives_implementation="gloo"``) and
feed their own shard of the digits to ``fit`` with a global batch (the multi-process path:
each process shuffles its own examples and sends its part of every global batch). Meanwhile
this process computes the reference: one process, one device, a hand-written optax loop fed
the same global batches. The two-process launch does every check in one go (train, resume
from a one-process checkpoint, curvature), then checks, one after another, that an error one
process finds is raised by every process (none waits for the others forever), and that shares
of unequal sizes, a mid-epoch checkpoint of another process count and a multi-process state
are handled; the four-process one checks the parameters. Each launched process spends about
two seconds of CPU importing and connecting before its first step, so checks share launches.
"""

import functools
import itertools
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from jaxtrain import curvature
from jaxtrain.data import load_digits
from jaxtrain.losses import accuracy, softmax_cross_entropy
from jaxtrain.nn import MLP, functional
from jaxtrain.train import CheckpointDirectoryError, evaluate, fit
from jaxtrain.train._batching import key_bits, shuffled

# 6 full global batches of 32 and a last one of 16 per epoch; each divides among 2 and 4
# processes and over their devices.
NUM_TRAIN, NUM_VAL, BATCH, SEED = 208, 32, 32, 0
# Examples every process passes whole to the curvature functions.
NUM_CURVATURE = 64
OPTIMIZER = optax.sgd(0.1, momentum=0.9)
LOSS = softmax_cross_entropy
# The tolerance of the eight-device test (tests/train/test_multidevice.py).
RTOL, ATOL = 2e-5, 2e-6
# A launch that takes longer has hung (a process waiting for a peer that is gone).
LAUNCH_TIMEOUT = 180.0
# Examples of the validation set split unequally (17 and 16) in the failure launch.
NUM_UNEVEN = 33


def share_digits(out):
    """``(train, validation)`` digits, small enough that a run compiles and trains in seconds,
    also written to ``out`` for the processes (each would spend a second importing
    scikit-learn to load them)."""
    x, y = load_digits()
    val = slice(NUM_TRAIN, NUM_TRAIN + NUM_VAL)
    np.savez(out / "digits.npz", x=x[:NUM_TRAIN], y=y[:NUM_TRAIN], xv=x[val], yv=y[val])
    return shared_digits(out)


def shared_digits(out):
    """The digits :func:`share_digits` wrote."""
    with np.load(out / "digits.npz") as saved:
        return (saved["x"], saved["y"]), (saved["xv"], saved["yv"])


def model():
    """The same model in every process: a BatchNorm MLP, its initial values drawn by NumPy
    from a fixed seed (no device work before ``jax.distributed.initialize``, and none of
    the dozen small compilations an eager initialization costs every process)."""
    apply, params, state = functional(
        nnx.eval_shape(lambda: MLP(64, 8, 10, depth=1, norm="batch", rngs=nnx.Rngs(0)))
    )
    rng = np.random.default_rng(0)

    def initial(path, leaf):
        name = jax.tree_util.keystr(path[-1:])
        if "kernel" in name:
            return (rng.standard_normal(leaf.shape) / np.sqrt(leaf.shape[0])).astype(np.float32)
        return np.full(leaf.shape, 1.0 if name in ("['scale']", "['var']") else 0.0, np.float32)

    initial_values = jax.tree_util.tree_map_with_path(initial, (params, state))
    return apply, *initial_values


def shard(data, process, processes):
    """Process ``process``'s share: every ``processes``-th example (equal counts)."""
    return tuple(a[process::processes] for a in data)


def global_batches(data, epoch, processes, *, drop_last=False):
    """The global batches ``fit`` trains on in epoch ``epoch`` with ``processes`` processes.

    Each process shuffles its own shard (seeded by the run's key, the epoch and, with several
    processes, its index) and sends the next ``BATCH / processes`` of its examples; a global
    batch is the processes' parts in process order (the last, partial one left out with
    ``drop_last``). With one process this is the single-process run's order.
    """
    bits = key_bits(jax.random.key(SEED))
    shards = [shard(data, p, processes) for p in range(processes)]
    local = len(shards[0][0])
    orders = [
        shuffled(bits, epoch, local, process=p if processes > 1 else None) for p in range(processes)
    ]
    size = BATCH // processes
    stop = local - local % size if drop_last else local
    cuts = [*range(0, stop, size), stop]
    for start, stop in itertools.pairwise(cuts):
        rows = [order[start:stop] for order in orders]
        yield tuple(
            np.concatenate([s[i][r] for s, r in zip(shards, rows, strict=True)]) for i in range(2)
        )


@functools.cache
def _reference_step():
    apply = model()[0]

    @jax.jit
    def step(params, state, opt_state, xb, yb):
        def objective(p):
            predictions, new_state = apply(p, state, xb, train=True)
            return LOSS(predictions, yb), new_state

        (loss, state), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    return step


def reference_run(batches, start=None):
    """One process, one device: θ ← θ + SGD-momentum(∇L(θ; batch)) over ``batches``, from
    ``start`` ``(params, model state)`` (the model's initial values by default) and a fresh
    optimizer state.

    Returns ``(params, model state, per-step losses)``.
    """
    params, state = model()[1:] if start is None else start
    opt_state = OPTIMIZER.init(params)
    losses = []
    for xb, yb in batches:
        params, state, opt_state, loss = _reference_step()(params, state, opt_state, xb, yb)
        losses.append(float(loss))
    return params, state, np.asarray(losses)


def assert_close(actual, expected):
    for u, v in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=RTOL, atol=ATOL)


# --- the launched processes -------------------------------------------------------------


def _save(path, tree, **arrays):
    # A replicated global array's local copy: the value every process holds.
    leaves = [np.asarray(leaf.addressable_data(0)) for leaf in jax.tree.leaves(tree)]
    np.savez(path, *leaves, **arrays)


def worker(port, processes, process, out, checks):
    """What each launched process runs (arguments as strings); ``checks`` is ``"all"`` or
    ``"fit"``. Nothing touches a device before ``jax.distributed.initialize``."""
    processes, process, out = int(processes), int(process), pathlib.Path(out)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=processes,
        process_id=process,
        initialization_timeout=60,
    )
    assert jax.process_count() == processes
    train, val = shared_digits(out)
    mine = shard(train, process, processes)
    kw = dict(loss=LOSS, batch_size=BATCH, progress=False)
    if checks == "fit":
        # Full batches only: a last partial batch would cost every process a compilation.
        state, _ = fit(model(), OPTIMIZER, mine, epochs=2, drop_last=True, **kw)
        _save(out / f"fit-{process}.npz", (state.params, state.model_state))
        return
    # Trained here, checkpointed (only the newest kept: process 0 deletes, all agree).
    state, history = fit(
        model(),
        OPTIMIZER,
        mine,
        epochs=2,
        val_data=shard(val, process, processes),
        checkpoint_dir=out / "written_by_processes",
        keep_checkpoints=1,
        **kw,
    )
    _save(
        out / f"fit-{process}.npz",
        (state.params, state.model_state),
        loss=history.per_step["loss"],
        val_loss=history.per_epoch["val_loss"],
    )
    # Resumed here from the checkpoint one process wrote after its first epoch (the test
    # writes it while the processes train, and renames its folder to this name when done).
    while not (out / "written_by_one").exists():
        time.sleep(0.05)
    resumed, history = fit(
        model(), OPTIMIZER, mine, epochs=2, checkpoint_dir=out / "written_by_one", resume=True, **kw
    )
    _save(
        out / f"resumed-{process}.npz",
        (resumed.params, resumed.model_state),
        loss=history.per_step["loss"],
    )
    # Curvature of the trained model on a batch every process passes whole, sharded over
    # every device of every process.
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("data",))
    batch = tuple(a[:NUM_CURVATURE] for a in train)
    loss_fn = curvature.loss_from_model(
        state.apply, state.model_state, [batch], LOSS, train=True, mesh=mesh
    )
    top = curvature.eigenvalues(
        curvature.hvp(loss_fn, state.params), state.params, k=3, key=jax.random.key(1)
    )
    np.savez(
        out / f"curvature-{process}.npz",
        loss=np.asarray(loss_fn(state.params).addressable_data(0)),
        eigenvalues=np.asarray(top.eigenvalues.addressable_data(0)),
    )
    _fail_together(process, processes, out, train, mine, kw)


def _fail_together(process, processes, out, train, mine, kw):
    """Errors that one process finds, each expected from every process in turn; then a state
    trained by the processes trained again, with a validation set split 17/16 (full batches
    only: one compilation per program)."""
    kw = dict(kw, drop_last=True)

    def refused(error, match, **fit_kw):
        data = fit_kw.pop("data", mine)
        net, optimizer = fit_kw.pop("model", None) or model(), fit_kw.pop("optimizer", OPTIMIZER)
        with pytest.raises(error, match=match):
            fit(net, optimizer, data, **{"epochs": 1, **kw, **fit_kw})
        print("refused:", match, flush=True)

    # Process 1 given another batch size waited for the others in other collectives for
    # good; another initial model or optimizer trained apart, each process its own copy of
    # the "replicated" state: each is refused by both now.
    refused(
        ValueError,
        r"process 1's batch_size, steps_per_epoch",
        batch_size=BATCH // 2 if process else BATCH,
    )
    apply, params, state = model()
    if process == 1:
        params = jax.tree.map(lambda a: a + np.float32(1e-3), params)
    refused(ValueError, r"process 1's initial model differs", model=(apply, params, state))
    other = optax.sgd(0.2 if process else 0.1, momentum=0.9)
    refused(ValueError, r"process 1's optimizer differs", optimizer=other)
    # η in the optimizer's state (inject_hyperparams), not in its program.
    injected = optax.inject_hyperparams(optax.sgd)(learning_rate=0.2 if process else 0.1)
    refused(ValueError, r"process 1's optimizer differs", optimizer=injected)
    # A checkpoint folder on each process's own disk: process 1 finds none of process 0's.
    refused(
        CheckpointDirectoryError,
        r"process 1: the checkpoint directory .* is not shared",
        checkpoint_dir=out / f"own-disk-{process}",
    )

    # Only process 1's share holds a NaN; only process 0's validation share a bad label.
    x, y = mine
    if process == 1:
        x = x.copy()
        x[3, 5] = np.nan
    refused(ValueError, r"process 1: train_data inputs x hold 1 NaN", data=(x, y))
    val = shard(tuple(a[:NUM_UNEVEN] for a in train), process, processes)
    bad_val = (
        val[0],
        np.where(np.arange(len(val[1])) == 2, 10, val[1]) if process == 0 else val[1],
    )
    refused(ValueError, r"process 0: val_data labels", val_data=bad_val)
    # Process 0 alone checks the directory: a foreign one, then a foreign step folder.
    refused(CheckpointDirectoryError, "is not empty", checkpoint_dir=out / "foreign")
    # A checkpoint that one process wrote in the middle of its first epoch (the test writes
    # it while the processes start).
    while not (out / "mid_epoch").exists():
        time.sleep(0.05)
    refused(ValueError, "written by 1 process", checkpoint_dir=out / "mid_epoch", resume=True)

    # A state the processes trained (its arrays span every process's devices) trains again,
    # validated on unequal shares, and is evaluated on them.
    state, _ = fit(model(), OPTIMIZER, mine, epochs=1, checkpoint_dir=out / "run", **kw)
    again, history = fit(state, OPTIMIZER, mine, epochs=1, val_data=val, **kw)
    scores = evaluate(again, val, loss=LOSS, metrics=[accuracy])
    _save(
        out / f"together-{process}.npz",
        (again.params, again.model_state),
        val_loss=history.per_epoch["val_loss"],
        loss=scores["loss"],
        accuracy=scores["accuracy"],
    )
    if process == 0:  # the step the run below saves next, put there by someone else
        (out / "run" / "12").mkdir()
        (out / "run" / "12" / "theirs.txt").write_text("not jaxtrain's")
    refused(
        CheckpointDirectoryError,
        "cannot save step 12",
        checkpoint_dir=out / "run",
        resume=True,
        epochs=2,
    )


_MAIN = """
import sys
sys.path.insert(0, {here!r})
import test_multiprocess
test_multiprocess.worker(*sys.argv[1:])
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Launch:
    """``processes`` processes running :func:`worker`, started on entering the ``with`` block
    and killed, if still running, on leaving it (whatever the test's outcome).

    Use :meth:`wait` inside the block; it fails the test with the processes' output as soon
    as one exits with an error, or when ``LAUNCH_TIMEOUT`` passes.
    """

    def __init__(self, processes, out, checks, *, devices_per_process=1, timeout=LAUNCH_TIMEOUT):
        self.out, self.processes, self.checks = pathlib.Path(out), processes, checks
        self.timeout = timeout
        self.env = dict(os.environ, JAX_PLATFORMS="cpu")
        flags = [f for f in self.env.get("XLA_FLAGS", "").split() if "device_count" not in f]
        self.env["XLA_FLAGS"] = " ".join(
            [*flags, f"--xla_force_host_platform_device_count={devices_per_process}"]
        )
        self.logs, self.popens = [], []

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self):
        main = _MAIN.format(here=str(pathlib.Path(__file__).parent))
        port = _free_port()
        self.started = time.monotonic()
        for process in range(self.processes):
            log = open(self.out / f"process-{process}.log", "w")  # noqa: SIM115 (closed in __exit__)
            self.logs.append(log)
            arguments = map(str, (port, self.processes, process, self.out, self.checks))
            self.popens.append(
                subprocess.Popen(
                    [sys.executable, "-c", main, *arguments],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                )
            )

    def wait(self):
        while True:
            codes = [p.poll() for p in self.popens]
            failed = [(i, code) for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                # Every process's output: the first to fail may only report another's error.
                pytest.fail(f"process {failed[0][0]} exited with {failed[0][1]}:\n" + self._logs())
            if all(code == 0 for code in codes):
                return
            if time.monotonic() - self.started > self.timeout:
                running = [i for i, code in enumerate(codes) if code is None]
                pytest.fail(
                    f"processes {running} still running after {self.timeout:.0f} s:\n"
                    + self._logs()
                )
            time.sleep(0.05)

    def _logs(self):
        texts = []
        for process in range(self.processes):
            text = (self.out / f"process-{process}.log").read_text()
            texts.append(f"--- process {process} ---\n{text[-4000:]}")
        return "\n".join(texts)

    def __exit__(self, *exc):
        for popen in self.popens:
            if popen.poll() is None:
                popen.kill()
        for popen in self.popens:
            popen.wait()
        for log in self.logs:
            log.close()


def _load(path):
    with np.load(path) as saved:
        leaves = [saved[f"arr_{i}"] for i in range(sum(k.startswith("arr_") for k in saved))]
        return leaves, {k: saved[k] for k in saved if not k.startswith("arr_")}


def _same_in_every_process(out, name, processes):
    """Process 0's ``(params, model state)`` (``None`` when not saved) and records, after
    checking that every process holds exactly the same."""
    first, records = _load(out / f"{name}-0.npz")
    for process in range(1, processes):
        leaves, other = _load(out / f"{name}-{process}.npz")
        for a, b in zip([*first, *records.values()], [*leaves, *other.values()], strict=True):
            np.testing.assert_array_equal(a, b)
    if not first:
        return None, records
    _, params, state = model()
    return jax.tree.unflatten(jax.tree.structure((params, state)), first), records


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_train_resume_measure_curvature_and_fail_as_one(tmp_path):
    train, val = share_digits(tmp_path)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("someone else's")
    kw = dict(batch_size=BATCH, loss=LOSS, progress=False)
    with Launch(2, tmp_path, "all", devices_per_process=2) as launch:
        # The checkpoint the processes resume from: one process's, after one epoch, written
        # while they train their own run and renamed into place when complete (they wait
        # for its folder before resuming).
        fit(model(), OPTIMIZER, train, epochs=1, checkpoint_dir=tmp_path / "being_written", **kw)
        (tmp_path / "being_written").rename(tmp_path / "written_by_one")
        # The mid-epoch checkpoint they are to refuse: one process, 3 of the epoch's 6 full
        # batches.
        written = tmp_path / "being_written"
        fit(model(), OPTIMIZER, train, steps=3, drop_last=True, checkpoint_dir=written, **kw)
        (tmp_path / "being_written").rename(tmp_path / "mid_epoch")
        # The references, computed while the processes run.
        two = [b for epoch in (0, 1) for b in global_batches(train, epoch, 2)]
        *trained, losses = reference_run(two)
        *resumed, resumed_losses = reference_run(
            [*global_batches(train, 0, 1), *global_batches(train, 1, 2)]
        )
        *continued, continued_losses = reference_run([*two, *global_batches(train, 2, 1)])
        # The dense Hessian of the curvature batch's loss at the reference parameters (the
        # processes' are checked equal to them below).
        batch = tuple(a[:NUM_CURVATURE] for a in train)
        reference_loss = curvature.loss_from_model(
            model()[0], trained[1], [batch], LOSS, train=True
        )
        dense = np.linalg.eigvalsh(np.asarray(curvature.hessian(reference_loss, trained[0])))
        # The failure checks' two runs: one epoch from the model, one from its result (a
        # fresh optimizer state, the same seed: the same batches).
        first = list(global_batches(train, 0, 2, drop_last=True))
        *trained_once, _ = reference_run(first)
        *again, _ = reference_run(first, start=trained_once)
        launch.wait()

    # Parameters and BatchNorm statistics (those of each global batch), losses, validation.
    (params, state), records = _same_in_every_process(tmp_path, "fit", 2)
    assert_close((params, state), trained)
    assert_close(records["loss"], losses)
    val_loss = evaluate((model()[0], params, state), val, loss=LOSS)["loss"]
    np.testing.assert_allclose(records["val_loss"][-1], val_loss, rtol=RTOL)

    # A one-process checkpoint resumed by the processes...
    got, records = _same_in_every_process(tmp_path, "resumed", 2)
    assert_close(got, resumed)
    assert_close(records["loss"], resumed_losses)

    # ...and the processes' checkpoint (the newest only: process 0 deleted the others)
    # resumed by one process for a third epoch.
    written = tmp_path / "written_by_processes"
    assert sorted(p.name for p in written.iterdir() if p.name.isdigit()) == ["14"]
    state3, history = fit(
        model(), OPTIMIZER, train, epochs=3, checkpoint_dir=written, resume=True, **kw
    )
    assert_close((state3.params, state3.model_state), continued)
    assert_close(history.per_step["loss"], continued_losses)

    # Curvature of the sharded loss: its value, and Lanczos's top eigenvalues against the
    # dense Hessian's in one process.
    _, measured = _same_in_every_process(tmp_path, "curvature", 2)
    loss_fn = curvature.loss_from_model(model()[0], state, [batch], LOSS, train=True)
    np.testing.assert_allclose(measured["loss"], loss_fn(params), rtol=RTOL)
    np.testing.assert_allclose(measured["eigenvalues"], dense[::-1][:3], rtol=5e-4)

    # An error one process found was raised by every process (each printed it; a process
    # waiting for the others instead would have stopped the launch at its timeout).
    (params, state), records = _same_in_every_process(tmp_path, "together", 2)
    assert_close((params, state), again)
    # The validation set of 17 + 16 examples, every example weighed once: as one process
    # evaluates the two shares joined.
    uneven = tuple(a[:NUM_UNEVEN] for a in train)
    joined = tuple(np.concatenate([shard(uneven, p, 2)[i] for p in (0, 1)]) for i in (0, 1))
    expected = evaluate((model()[0], params, state), joined, loss=LOSS, metrics=[accuracy])
    np.testing.assert_allclose(records["val_loss"], [expected["loss"]], rtol=RTOL)
    np.testing.assert_allclose(records["loss"], expected["loss"], rtol=RTOL)
    np.testing.assert_allclose(records["accuracy"], expected["accuracy"], rtol=RTOL)
    # The foreign step folder is left as it was.
    assert (tmp_path / "run" / "12" / "theirs.txt").read_text() == "not jaxtrain's"


@pytest.mark.slow
def test_four_processes_train_as_one(tmp_path):
    train, _ = share_digits(tmp_path)
    with Launch(4, tmp_path, "fit") as launch:
        batches = [b for e in (0, 1) for b in global_batches(train, e, 4, drop_last=True)]
        *trained, _ = reference_run(batches)
        launch.wait()
    got, _ = _same_in_every_process(tmp_path, "fit", 4)
    assert_close(got, trained)
