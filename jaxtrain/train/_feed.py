"""Feeding an epoch's batches to the compiled scans: gathered on the devices, or sent from the host.

With the data on the devices (the default with one process) a segment of the run is one
compiled call that gathers each batch by its row indices; fed from the host (the default with
several processes), each process sends its local share of every batch, at most
``_HOST_CHUNK_BYTES`` per scan.

A segment is one epoch, part of one, or several joined epochs: on the devices, epochs of a few
full batches and no partial batch (at full batch, one step each) are joined into one call of
up to ``_STEPS_PER_CALL`` steps when the caller allows it, since each call waits for the devices
and hands its records to Python, which costs about a millisecond, as much as a whole step of a
small full-batch run.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxtrain.train._batching import BatchPlan, key_bits, shuffled, step_keys
from jaxtrain.train._sharding import Placement
from jaxtrain.train._state import TrainState, donatable_copy
from jaxtrain.train._step import StepFunctions

__all__ = ["Feed"]

# The host feed sends at most this many bytes of batches to the devices per scan.
_HOST_CHUNK_BYTES = 256 * 2**20

# Epochs of at most half this many full batches are joined into calls of at most this many
# steps, as long as the call's batch indices stay under _ROWS_BYTES_PER_CALL.
_STEPS_PER_CALL = 64
_ROWS_BYTES_PER_CALL = 4 * 2**20

# Mixed into the probe batch's seed, so it is not the first epoch's shuffle.
_PROBE_TAG = 0x9E0BE


class Feed:
    """Runs steps ``first..stop-1`` of a run as scans; one per fit call.

    ``epochs_per_call``: how many whole epochs one call may run: more than one only with
    ``join_epochs`` (the caller has nothing to do between epochs), on the devices, with no
    partial batch and few full batches per epoch.
    """

    def __init__(
        self,
        fns: StepFunctions,
        plan: BatchPlan,
        placement: Placement,
        key: jax.Array,
        x: np.ndarray,
        y: np.ndarray,
        *,
        on_host: bool,
        join_epochs: bool = False,
        probe_size: int = 0,
    ):
        self.fns, self.plan, self.placement, self.on_host = fns, plan, placement, on_host
        self.x, self.y = x, y
        self.processes = jax.process_count()
        # The run's key never changes; the state's copy is donated with the state.
        self.key = placement.put_replicated(donatable_copy(key))
        self.key_bits = key_bits(key)
        if on_host:
            self.local_batch = plan.batch_size // self.processes
            self.local_remainder = plan.remainder // self.processes
            row_bytes = x[:1].nbytes + y[:1].nbytes
            self.chunk = max(1, _HOST_CHUNK_BYTES // max(1, row_bytes * self.local_batch))
        else:
            self.x_dev, self.y_dev = placement.put_data(x), placement.put_data(y)
        joinable = _epochs_per_call(plan, on_host)
        self.epochs_per_call = joinable if join_epochs else 1
        # The row indices every call passes: one compiled shape for the whole run, and the
        # same whether it joins epochs or not, so that a run with a validation set and one
        # without (same steps otherwise) share one compiled program.
        self.capacity = plan.num_full * joinable
        self.probe = self._probe(probe_size) if probe_size else None

    def _probe(self, size: int) -> tuple[jax.Array, jax.Array]:
        """The monitors' fixed probe batch: ``size`` examples drawn once with the run's key.

        Each process draws its share from its own examples (a permutation seeded by the key's
        bits, a tag and the process), so a resumed run has the same probe.
        """
        local = size // self.processes
        entropy = [*self.key_bits, _PROBE_TAG] + (
            [jax.process_index()] if self.processes > 1 else []
        )
        rows = np.sort(np.random.default_rng(entropy).permutation(len(self.x))[:local])
        xb = self.placement.put_local_batches(self.x[rows][None])
        yb = self.placement.put_local_batches(self.y[rows][None])
        return xb, yb

    def run(
        self, state: TrainState, first: int, stop: int
    ) -> tuple[TrainState, dict[str, np.ndarray], TrainState | None]:
        """Steps ``first..stop-1`` of the run: within one epoch, or whole epochs of full batches
        (at most ``epochs_per_call``) ending in part of one.

        Returns ``(state, records as NumPy, before)``, ``before`` being a copy of the input
        state (``None`` when non-finite steps are skipped). Each record's ``finite`` flag says
        whether that step's loss, gradient and the state it produced are finite: where the
        steps do not check their states (:class:`~jaxtrain.train._step.StepFunctions`), a
        call that ends non-finite, or has a step whose loss or gradient is, runs again from
        ``before`` with every step checked, up to that step, so the first bad step is exact
        (the returned state is then the run again's, the records past it the first run's).
        """
        state, records, before, finite = self._run(self.fns, state, first, stop)
        flags = records["finite"].astype(bool)
        if before is None or (finite and flags.all()):
            return state, records, before
        del state  # the run again needs memory for one more state, not two
        # The first bad step is no later than the first flagged one (its loss or gradient not
        # finite): the run again stops there. With none flagged, the state went bad somewhere.
        flagged = np.flatnonzero(~flags)
        end = first + int(flagged[0]) + 1 if flagged.size else stop
        state, checked, before, _ = self._run(self.fns.checking_each_step, before, first, end)
        # The records past it are of steps after the first bad one, which no one reads.
        count = end - first
        records = {k: np.concatenate([checked[k], v[count:]]) for k, v in records.items()}
        return state, records, before

    def _run(
        self, fns: StepFunctions, state: TrainState, first: int, stop: int
    ) -> tuple[TrainState, dict[str, np.ndarray], TrainState | None, bool]:
        """:meth:`run` by ``fns``, and whether the state it ends with is finite."""
        plan = self.plan
        if self.on_host:
            epoch, start = divmod(first, plan.steps_per_epoch)
            if stop > (epoch + 1) * plan.steps_per_epoch:
                raise ValueError(f"steps {first}..{stop - 1} span more than one epoch")
            return self._run_on_host(fns, state, epoch, start, stop - epoch * plan.steps_per_epoch)
        rows, rest, with_remainder = self._rows(first, stop)
        count = len(rows)
        padded = np.zeros((self.capacity, plan.batch_size), np.int32)
        padded[:count] = rows
        keys = step_keys(self.key, first, count=self.capacity + 1)
        flags = (np.int32(count), np.bool_(with_remainder))
        if self.placement.mesh is not None:
            # (One device: the compiled call takes NumPy directly, 10× faster than a put.)
            padded, rest, flags = self.placement.put_replicated((padded, rest, flags))
        state, records, before, finite = fns.run_indexed(
            state, self.x_dev, self.y_dev, padded, rest, keys, *flags, self.probe
        )
        # The segment's records: its `count` full batches, then the partial batch's (the last
        # entry); `with_remainder` implies there is one.
        kept = np.arange(count + with_remainder)
        kept[count:] = self.capacity
        records, finite = jax.device_get((records, finite))
        return state, {k: v[kept] for k, v in records.items()}, before, bool(finite)

    def _rows(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """The full batches' rows of steps ``first..stop-1`` in order, the partial batch, and
        whether the span ends with it."""
        plan, spe = self.plan, self.plan.steps_per_epoch
        epochs = range(first // spe, (stop - 1) // spe + 1)
        if len(epochs) > self.epochs_per_call:
            raise ValueError(f"steps {first}..{stop - 1} span more epochs than one call runs")
        pieces, rest, with_remainder = [], np.zeros(0, np.int32), False
        for epoch in epochs:
            full, rest = plan.split(self._local_permutation(epoch))
            start, end = max(first - epoch * spe, 0), min(stop - epoch * spe, spe)
            pieces.append(full[min(start, plan.num_full) : min(end, plan.num_full)])
            with_remainder = end > plan.num_full
        return np.concatenate(pieces), rest, with_remainder

    def _local_permutation(self, epoch: int) -> np.ndarray:
        """This process's order of its own examples (all of them with one process)."""
        process = jax.process_index() if self.processes > 1 else None
        return shuffled(self.key_bits, epoch, len(self.x), process=process)

    def _run_on_host(
        self, fns: StepFunctions, state: TrainState, epoch: int, start: int, stop: int
    ) -> tuple[TrainState, dict[str, np.ndarray], TrainState | None, bool]:
        """Positions ``start..stop-1`` of epoch ``epoch`` sent from the host in chunks: the
        full batches, then the partial one. ``before`` is the state the first chunk started
        from; the flag says whether every chunk ended finite."""
        plan = self.plan
        pieces: list[dict[str, np.ndarray]] = []
        # The first chunk's starting state only: a non-finite step rolls back to it. The
        # later chunks' copies are dropped as they come, or one state per chunk piles up.
        befores: list[TrainState | None] = []
        first_step = epoch * plan.steps_per_epoch
        last_full = min(stop, plan.num_full)
        ends: list[bool] = []
        if last_full > start:
            state = self._send(
                fns, state, epoch, start, last_full, first_step + start, pieces, befores, ends
            )
        if stop > plan.num_full:
            step = first_step + plan.num_full
            state = self._send(fns, state, epoch, plan.num_full, stop, step, pieces, befores, ends)
        records = {k: np.concatenate([np.asarray(p[k]) for p in pieces]) for k in pieces[0]}
        return state, records, befores[0], all(ends)

    def _send(
        self,
        fns: StepFunctions,
        state: TrainState,
        epoch: int,
        start: int,
        stop: int,
        first_step: int,
        pieces: list[dict[str, np.ndarray]],
        befores: list[TrainState | None],
        ends: list[bool],
    ) -> TrainState:
        """Positions ``start..stop-1`` (all full batches, or the partial one) sent in chunks;
        each chunk's records are appended to ``pieces``, whether its last state is finite to
        ``ends``, and the state the first chunk of the call started from to ``befores`` (left
        empty until then)."""
        perm = self._local_permutation(epoch)
        b, nb = self.local_batch, self.plan.num_full
        if start >= nb:
            batches = perm[nb * b : nb * b + self.local_remainder][None]
        else:
            batches = perm[: nb * b].reshape(nb, b)[start:stop]
        for i in range(0, len(batches), self.chunk):
            rows = batches[i : i + self.chunk]
            xb = self.placement.put_local_batches(self.x[rows])
            yb = self.placement.put_local_batches(self.y[rows])
            keys = step_keys(self.key, first_step + i, count=len(rows))
            state, records, before, finite = fns.run_fed(state, xb, yb, keys, self.probe)
            records, finite = jax.device_get((records, finite))
            pieces.append(records)
            ends.append(bool(finite))
            if not befores:
                befores.append(before)
            del before
        return state


def _epochs_per_call(plan: BatchPlan, on_host: bool) -> int:
    """Whole epochs one call may run: as many as ``_STEPS_PER_CALL`` steps hold when an epoch
    has no partial batch (so the steps of consecutive epochs are one sequence of full
    batches)."""
    if on_host or plan.remainder:
        return 1
    row_bytes = plan.num_full * plan.batch_size * np.dtype(np.int32).itemsize
    wanted = _STEPS_PER_CALL // plan.num_full
    return max(1, min(wanted, _ROWS_BYTES_PER_CALL // row_bytes))
