"""Curvature costs: HVP vs gradient, Lanczos vs power iteration, jaxtrain vs PyHessian and torch.

Six measurements (``--sections`` picks some), one process, every JAX function compiled before
it is timed (medians over repeats; first calls, which include compilation, are reported
separately):

1. One Hessian-vector product over one gradient, on an MLP and a CNN: the product from scratch
   (``jax.jvp`` of ``jax.grad``, forward pass included) and the linearized product that
   :func:`jaxtrain.curvature.hvp` reuses (linear part only). Target ≤ 2.5 on CPU.
2. The top eigenvalue and the top 5 to 1e-3: Lanczos (``eigenvalues``, stopping when the
   Ritz residuals converge) vs deflated power iteration (``power_iteration``, PyHessian's
   relative-change test at 1e-3): products used, time, and the error against a tight Lanczos
   reference (tol 1e-6).
3. The top 5 against PyHessian 0.1 itself (PyTorch double backward, ``eigenvalues(top_n=5,
   tol=1e-3)``) on the same 64-256-256-10 tanh MLP, weights and data, when torch and pyhessian
   import, at two points: initialization on 2,048 random examples (a clustered top spectrum,
   the hard case for every method) and after 300 Adam steps on the 1,797 digits (separated
   top eigenvalues, where Hessians are usually studied), and there also for narrower layers
   (64-32-32-10, 64-128-128-10). The two libraries run in alternating
   rounds so that load on a shared machine hits both. Target: ≥ 5× faster after compilation;
   the time with compilation and the ratio of HVP counts (the bound on the speed-up when one
   product costs the same on both sides) are shown.
4. Dense Hessian + ``eigh`` at n ≈ 2,000 and 5,000 against
   ``torch.autograd.functional.hessian(vectorize=True)`` + ``torch.linalg.eigh``: time and
   peak memory. Memory is the growth of the process's resident set (``/proc/self/statm``,
   sampled every 2 ms by a thread) over its value just before the call, for both libraries
   (JAX's ``device.memory_stats()`` is ``None`` on CPU), after ``gc.collect()`` and glibc's
   ``malloc_trim(0)`` so that memory freed earlier is not silently reused. The sampling can
   miss a peak shorter than 2 ms; treat the numbers as estimates.
5. ``jaxtrain hessian`` end to end as a program: a ``jaxtrain train`` checkpoint of the
   64-256-256-10 tanh MLP on the digits, the command run in a fresh process twice with a
   temporary persistent-cache directory (the second process loads its programs), against
   PyHessian's top 5 on the same weights and examples timed in-process (set up already).
   Target: the second process faster than PyHessian.
6. Lanczos variants at initialization (why jaxtrain keeps single-vector Lanczos): products
   until the top 5 are within 1e-3 for block Lanczos (block sizes 1-8, oracle stop), a start
   from the mean logits' Jacobian (J̄ᵀu, oracle stop) and restarted Lanczos (SciPy's ARPACK
   ``eigsh``), jaxtrain's own stop at looser tolerances (products and error, beside
   PyHessian's error of section 3), and the time per product in a block of 8 against one
   alone.

    python benchmarks/curvature.py                                 # the sizes above
    python benchmarks/curvature.py --quick                         # tiny sizes
    python benchmarks/curvature.py --sections 35 --torch-threads 1 # PyHessian only, 1 thread

PyTorch and PyHessian are not jaxtrain dependencies: install them in a separate environment
(``pip install torch --index-url https://download.pytorch.org/whl/cpu pyhessian`` and
``pip install -e .``). On a machine shared with other work, PyTorch's default OpenMP threads
can spin against the load (2 threads measured 10× slower than 1 here): ``--torch-threads 1``
gives PyHessian its best time.

PyTorch and PyHessian run on the CPU, or on ``--torch-device cuda`` (JAX's GPU; their timed
calls then wait for the GPU to finish, as JAX's ``block_until_ready`` does). Memory is the
host's resident set in either case.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature import eigenvalues, hessian, hvp, power_iteration

try:  # the comparisons with PyTorch run only where torch is installed
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

# ---------------------------------------------------------------------------------------------
# Timing and memory helpers.


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn()`` (blocked until ready) over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def first_call_time(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def torch_synced(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """``fn`` followed by waiting for the GPU on ``cuda`` (its kernels run asynchronously)."""
    if device == "cpu":
        return fn

    def synced():
        out = fn()
        torch.cuda.synchronize()
        return out

    return synced


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_freed_memory() -> None:
    # Freed blocks that malloc keeps would be reused silently and hide a later peak; glibc's
    # malloc_trim hands them back to the system, so the growth measured next is honest.
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to release
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_rss_growth(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Runs ``fn`` and returns ``(result, peak resident-set growth in MiB)``."""
    gc.collect()
    _release_freed_memory()
    baseline = _rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out = jax.block_until_ready(fn())
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], _rss_bytes())
    return out, (peak[0] - baseline) / 2**20


# ---------------------------------------------------------------------------------------------
# Models (plain functions of pytrees, so the same weights go to PyTorch).


def init_mlp(seed: int, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / np.sqrt(fan_in)  # PyTorch's nn.Linear initialization
        params.append(
            {
                "w": jnp.asarray(rng.uniform(-bound, bound, (fan_in, fan_out)), jnp.float32),
                "b": jnp.asarray(rng.uniform(-bound, bound, fan_out), jnp.float32),
            }
        )
    return params


def mlp(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def cross_entropy_loss(apply):
    def loss(params, x, y):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(apply(params, x), y))

    return loss


def init_cnn(seed: int, channels: tuple[int, ...], classes: int, image: int):
    rng = np.random.default_rng(seed)
    params = {"convs": []}
    for c_in, c_out in itertools.pairwise(channels):
        scale = 1.0 / np.sqrt(9 * c_in)
        params["convs"].append(
            {
                "w": jnp.asarray(rng.normal(0, scale, (3, 3, c_in, c_out)), jnp.float32),
                "b": jnp.zeros(c_out, jnp.float32),
            }
        )
    side = image // 2 ** (len(channels) - 1)
    features = side * side * channels[-1]
    params["head"] = {
        "w": jnp.asarray(rng.normal(0, 1 / np.sqrt(features), (features, classes)), jnp.float32),
        "b": jnp.zeros(classes, jnp.float32),
    }
    return params


def cnn(params, x):
    for layer in params["convs"]:
        x = jax.lax.conv_general_dilated(
            x, layer["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = jnp.tanh(x + layer["b"])
        x = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4
    x = x.reshape(x.shape[0], -1)
    return x @ params["head"]["w"] + params["head"]["b"]


def classification_data(seed: int, shape: tuple[int, ...], classes: int):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    y = jnp.asarray(rng.integers(0, classes, shape[0]), jnp.int32)
    return x, y


def num_params(params) -> int:
    return int(ravel_pytree(params)[0].size)


# ---------------------------------------------------------------------------------------------
# 1. HVP over gradient.


def hvp_over_grad(name: str, loss, params, x, y, repeats: int) -> dict[str, float]:
    # All three at the precision jaxtrain.curvature runs its products in (on a GPU the default
    # would give the gradient TF32 passes and the linearized product full float32 ones).
    with jax.default_matmul_precision("highest"):
        return _hvp_over_grad(name, loss, params, x, y, repeats)


def _hvp_over_grad(name: str, loss, params, x, y, repeats: int) -> dict[str, float]:
    grad = jax.jit(jax.grad(loss))
    v = jax.tree.map(lambda p: jnp.ones_like(p) * 1e-2, params)

    @jax.jit
    def hvp_from_scratch(params, v, x, y):
        return jax.jvp(lambda p: jax.grad(loss)(p, x, y), (params,), (v,))[1]

    matvec = hvp(loss, params, x, y)  # linearized once; each call runs the linear part only
    for fn in (lambda: grad(params, x, y), lambda: hvp_from_scratch(params, v, x, y)):
        jax.block_until_ready(fn())
    jax.block_until_ready(matvec(v))
    t_grad = median_time(lambda: grad(params, x, y), repeats)
    t_fresh = median_time(lambda: hvp_from_scratch(params, v, x, y), repeats)
    t_linear = median_time(lambda: matvec(v), repeats)
    row = {"grad": t_grad, "hvp": t_fresh, "hvp_linearized": t_linear}
    print(
        f"  {name:<34} n={num_params(params):>8,}  grad {t_grad * 1e3:8.2f} ms"
        f"  HVP {t_fresh * 1e3:8.2f} ms ({t_fresh / t_grad:4.2f}×)"
        f"  linearized HVP {t_linear * 1e3:8.2f} ms ({t_linear / t_grad:4.2f}×)"
    )
    return row


# ---------------------------------------------------------------------------------------------
# 2. Lanczos vs power iteration.


def lanczos_vs_power(loss, params, x, y, repeats: int) -> dict[str, Any]:
    key = jax.random.key(0)
    reference = eigenvalues(hvp(loss, params, x, y), params, k=5, key=key, tol=1e-6)
    ref = np.asarray(reference.eigenvalues, np.float64)
    results = {}
    print(f"  reference top 5 (Lanczos, tol 1e-6): {np.array2string(ref, precision=5)}")
    header = f"  {'method':<32}{'k':>3}{'HVPs':>7}{'median s':>11}{'max rel err':>13}"
    print(header)
    for k in (1, 5):
        runs = {
            "Lanczos (converged, tol 1e-3)": lambda k=k: eigenvalues(
                hvp(loss, params, x, y), params, k=k, key=key, tol=1e-3
            ),
            "power iteration + deflation": lambda k=k: power_iteration(
                hvp(loss, params, x, y), params, k=k, num_iters=100, tol=1e-3, key=key
            ),
            # PyHessian's relative-change test at 1e-3 stops before the values are good to
            # 1e-3; this row shows what power iteration spends when pushed further.
            "power iteration, tol 1e-5": lambda k=k: power_iteration(
                hvp(loss, params, x, y), params, k=k, num_iters=1000, tol=1e-5, key=key
            ),
        }
        for name, run in runs.items():
            out = run()  # compile
            seconds = median_time(lambda run=run: run().eigenvalues, repeats)
            values = np.sort(np.asarray(out.eigenvalues, np.float64))[::-1]
            error = float(np.max(np.abs(values - ref[:k]) / np.abs(ref[:k])))
            results[(name, k)] = {"hvps": out.num_matvecs, "seconds": seconds, "error": error}
            print(f"  {name:<32}{k:>3}{out.num_matvecs:>7}{seconds:>11.3f}{error:>13.2e}")
    for k, power in itertools.product(
        (1, 5), ("power iteration + deflation", "power iteration, tol 1e-5")
    ):
        lan = results[("Lanczos (converged, tol 1e-3)", k)]
        pow_ = results[(power, k)]
        print(
            f"  k={k}: {power} uses {pow_['hvps'] / lan['hvps']:.1f}× the HVPs and"
            f" {pow_['seconds'] / lan['seconds']:.1f}× the time of Lanczos"
        )
    return results


# ---------------------------------------------------------------------------------------------
# 3. PyHessian.


def torch_mlp(params):
    layers = []
    for i, layer in enumerate(params):
        linear = torch.nn.Linear(*layer["w"].shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.asarray(layer["w"]).T.copy()))
            linear.bias.copy_(torch.from_numpy(np.asarray(layer["b"]).copy()))
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def trained_on_digits(sizes: tuple[int, ...], steps: int):
    """The MLP after ``steps`` full-batch Adam steps on the built-in digits (standardized)."""
    from jaxtrain.data import fit_standardizer, load_digits, standardize
    from jaxtrain.optim import adam

    x, y = load_digits()
    x = standardize(x, *fit_standardizer(x))
    x, y = jnp.asarray(x), jnp.asarray(y)
    loss = cross_entropy_loss(mlp)
    optimizer = adam(1e-3)

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(loss)(params, x, y), state, params)
        return (optax.apply_updates(params, updates), state), None

    params = init_mlp(0, sizes)
    run = jax.jit(lambda p: jax.lax.scan(step, (p, optimizer.init(p)), length=steps)[0][0])
    return run(params), x, y


def import_pyhessian() -> tuple[Any, Any] | None:
    """``(pyhessian, pyhessian.hessian module)``, or ``None`` (printed) where they do not import."""
    if torch is None:
        print("  torch is not installed: skipped")
        return None
    try:
        import importlib

        import pyhessian

        # ``pyhessian.hessian`` is also the class the package exports: fetch the module itself.
        return pyhessian, importlib.import_module("pyhessian.hessian")
    except Exception as error:  # pragma: no cover - depends on the environment
        print(f"  pyhessian does not import ({error!r}): skipped")
        return None


def pyhessian_top5(pyhessian, pyhessian_hessian, params, x, y, device: str):
    """PyHessian's top 5 (tol 1e-3) on the torch twin of the MLP ``params``, HVPs counted.

    Returns ``(run, counter, model, xt, yt, criterion)``: ``run()`` computes the top 5 and
    ``counter["hvps"]`` counts the products of every call (reset it between calls).
    """
    model = torch_mlp(params).to(device)
    xt = torch.from_numpy(np.array(x)).to(device)
    yt = torch.from_numpy(np.array(y)).long().to(device)
    criterion = torch.nn.CrossEntropyLoss()
    counter = {"hvps": 0}
    # The function PyHessian was installed with, kept across calls so counters do not nest.
    original = getattr(pyhessian_hessian, "_uncounted", pyhessian_hessian.hessian_vector_product)
    pyhessian_hessian._uncounted = original

    def counted(*args, **kwargs):
        counter["hvps"] += 1
        return original(*args, **kwargs)

    # PyHessian looks the product up in its module at each call: counting it there is enough.
    pyhessian_hessian.hessian_vector_product = counted
    # PyHessian calls backward(create_graph=True), which PyTorch warns about on every call.
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")

    def run():
        torch.manual_seed(0)
        h = pyhessian.hessian(model, criterion, data=(xt, yt), cuda=device == "cuda")
        values, _ = h.eigenvalues(maxIter=100, tol=1e-3, top_n=5)
        return np.asarray(values)

    return run, counter, model, xt, yt, criterion


def against_pyhessian(
    loss, params, x, y, repeats: int, device: str = "cpu"
) -> dict[str, Any] | None:
    """PyHessian's top 5 and jaxtrain's, timed in alternating rounds (machine noise hits both)."""
    modules = import_pyhessian()
    if modules is None:
        return None
    pyhessian, pyhessian_hessian = modules
    run_pyhessian, counter, model, xt, yt, criterion = pyhessian_top5(
        pyhessian, pyhessian_hessian, params, x, y, device
    )
    with torch.no_grad():
        torch_loss = float(criterion(model(xt), yt))
    # At HIGHEST: a GPU's default precision (TF32) alone would miss this tolerance.
    with jax.default_matmul_precision("highest"):
        jax_loss = float(loss(params, x, y))
    np.testing.assert_allclose(torch_loss, jax_loss, rtol=1e-5, atol=1e-6)

    def run_ours():
        return eigenvalues(hvp(loss, params, x, y), params, k=5, key=jax.random.key(0), tol=1e-3)

    # Forget every compiled program, so the first call pays the whole compilation.
    jax.clear_caches()
    t_first, _ = first_call_time(lambda: run_ours().eigenvalues)
    run_pyhessian()  # warm-up: PyTorch's first call pays for its own set-up
    times_torch, times_ours, values = [], [], None
    for _ in range(max(repeats, 5)):
        counter["hvps"] = 0
        start = time.perf_counter()
        values = run_pyhessian()
        times_torch.append(time.perf_counter() - start)
        times_ours.append(median_time(lambda: run_ours().eigenvalues, 1))
    t_torch, t_ours = statistics.median(times_torch), statistics.median(times_ours)
    round_ratios = [a / b for a, b in zip(times_torch, times_ours, strict=True)]
    result = run_ours()
    print(
        f"    PyHessian {pyhessian.__name__} (torch {torch.__version__}, double backward):"
        f" top 5 {np.array2string(values, precision=5)}   {counter['hvps']} HVPs,"
        f" median {t_torch:.3f} s"
    )
    ours = np.asarray(result.eigenvalues)
    print(
        f"    jaxtrain Lanczos: top 5 {np.array2string(ours, precision=5)}"
        f"   {result.num_matvecs} HVPs, median {t_ours:.3f} s ({t_first:.3f} s first call,"
        " compilation included)"
    )
    reference = eigenvalues(hvp(loss, params, x, y), params, k=5, key=jax.random.key(1), tol=1e-7)
    ref = np.asarray(reference.eigenvalues, np.float64)
    error_torch = float(np.max(np.abs(np.sort(values)[::-1] - ref) / np.abs(ref)))
    error_ours = float(np.max(np.abs(ours.astype(np.float64) - ref) / np.abs(ref)))

    # Where the time goes: one gradient on each side.
    model.zero_grad()
    grad_torch = median_time(torch_synced(lambda: criterion(model(xt), yt).backward(), device), 5)
    grad_jax = jax.jit(jax.grad(loss))
    with jax.default_matmul_precision("highest"):  # as the products, and as torch's float32
        jax.block_until_ready(grad_jax(params, x, y))
        grad_ours = median_time(lambda: grad_jax(params, x, y), 5)
    print(
        f"    max relative error against Lanczos at tol 1e-7: PyHessian {error_torch:.1e},"
        f" jaxtrain {error_ours:.1e}"
    )
    print(
        f"    per product: PyHessian {t_torch / counter['hvps'] * 1e3:.1f} ms/HVP (gradient"
        f" {grad_torch * 1e3:.1f} ms), jaxtrain {t_ours / result.num_matvecs * 1e3:.1f} ms/step"
        f" (gradient {grad_ours * 1e3:.1f} ms)"
    )
    # With equal cost per product, the ratio of product counts bounds the speed-up.
    print(
        f"    speed-up after compilation {t_torch / t_ours:.1f}× (median of alternating rounds"
        f" {statistics.median(round_ratios):.1f}×; HVP counts {counter['hvps']}/"
        f"{result.num_matvecs} = {counter['hvps'] / result.num_matvecs:.1f}×), including"
        f" compilation {t_torch / t_first:.1f}×"
    )
    return {
        "pyhessian_seconds": t_torch,
        "pyhessian_hvps": counter["hvps"],
        "jaxtrain_seconds": t_ours,
        "jaxtrain_hvps": result.num_matvecs,
        "jaxtrain_first_seconds": t_first,
        "speedup": t_torch / t_ours,
        "speedup_with_compile": t_torch / t_first,
        "pyhessian_error": error_torch,
        "jaxtrain_error": error_ours,
    }


# ---------------------------------------------------------------------------------------------
# 4. Dense Hessian + eigh.


def dense_against_torch(
    sizes: tuple[int, ...], examples: int, repeats: int, device: str = "cpu"
) -> dict[str, Any]:
    params = init_mlp(1, sizes)
    x, y = classification_data(2, (examples, sizes[0]), sizes[-1])
    loss = cross_entropy_loss(mlp)
    n = num_params(params)
    eigh = jax.jit(jnp.linalg.eigh)

    def jax_hessian():
        return hessian(loss, params, x, y)

    def jax_run():
        return eigh(jax_hessian())

    t_jax_first, _ = first_call_time(jax_run)
    t_jax_h = median_time(jax_hessian, repeats)
    H = jax_hessian()
    t_jax_e = median_time(lambda H=H: eigh(H), repeats)
    del H
    _, mem_jax = peak_rss_growth(jax_run)
    t_jax = t_jax_h + t_jax_e
    row = {
        "n": n,
        "jax_hessian_seconds": t_jax_h,
        "jax_eigh_seconds": t_jax_e,
        "jax_first_seconds": t_jax_first,
        "jax_mib": mem_jax,
    }
    print(
        f"  n={n:>6,}  jaxtrain: hessian {t_jax_h:6.2f} s + eigh {t_jax_e:6.2f} s ="
        f" {t_jax:6.2f} s (first call {t_jax_first:6.2f} s), peak +{mem_jax:7.1f} MiB"
    )
    if torch is None:
        print("  torch is not installed: its dense Hessian skipped")
        return row
    flat = torch.from_numpy(np.asarray(ravel_pytree(params)[0]).copy()).to(device)
    shapes = [(tuple(layer["b"].shape), tuple(layer["w"].shape)) for layer in params]
    xt = torch.from_numpy(np.array(x)).to(device)
    yt = torch.from_numpy(np.array(y)).long().to(device)

    def torch_loss(theta):
        # ravel_pytree order: for each layer, "b" then "w" (dict keys sorted).
        h, offset = xt, 0
        for i, (b_shape, w_shape) in enumerate(shapes):
            b = theta[offset : offset + b_shape[0]]
            offset += b_shape[0]
            w = theta[offset : offset + w_shape[0] * w_shape[1]].reshape(w_shape)
            offset += w_shape[0] * w_shape[1]
            h = h @ w + b
            if i < len(shapes) - 1:
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h, yt)

    @functools.partial(torch_synced, device=device)
    def torch_hessian():
        return torch.autograd.functional.hessian(torch_loss, flat, vectorize=True)

    @functools.partial(torch_synced, device=device)
    def torch_run():
        return torch.linalg.eigh(torch_hessian())

    torch_eigh = torch_synced(torch.linalg.eigh, device)

    torch_run()  # warm-up: PyTorch's first call pays for its own set-up
    t_torch_h = median_time(torch_hessian, repeats)
    H_torch = torch_hessian()
    t_torch_e = median_time(lambda H=H_torch: torch_eigh(H), repeats)
    del H_torch
    (values_torch, _), mem_torch = peak_rss_growth(torch_run)
    values_jax = np.asarray(jax_run()[0])
    agreement = float(
        np.max(np.abs(values_torch.cpu().numpy() - values_jax)) / np.max(np.abs(values_jax))
    )
    t_torch = t_torch_h + t_torch_e
    row.update(
        torch_hessian_seconds=t_torch_h,
        torch_eigh_seconds=t_torch_e,
        torch_mib=mem_torch,
        agreement=agreement,
    )
    print(
        f"  {'':8}  torch:    hessian {t_torch_h:6.2f} s + eigh {t_torch_e:6.2f} s ="
        f" {t_torch:6.2f} s, peak +{mem_torch:7.1f} MiB"
    )
    print(
        f"  {'':8}  torch/jaxtrain: hessian {t_torch_h / t_jax_h:5.2f}×, eigh"
        f" {t_torch_e / t_jax_e:5.2f}×, total {t_torch / t_jax:5.2f}×, peak memory"
        f" {mem_torch / max(mem_jax, 1e-9):5.2f}×; spectra agree to {agreement:.1e}"
    )
    return row


# ---------------------------------------------------------------------------------------------
# 5. `jaxtrain hessian` end to end in a fresh process.


def _jaxtrain(*args: str, cache: str) -> float:
    """Runs ``python -m jaxtrain *args`` in a fresh process; returns its wall time."""
    env = {**os.environ, "JAXTRAIN_COMPILATION_CACHE": cache}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "jaxtrain", *args], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - start


def hessian_command_against_pyhessian(
    width: int, epochs: int, repeats: int, device: str = "cpu"
) -> dict[str, Any] | None:
    """``jaxtrain hessian`` run as a program twice (persistent cache) vs PyHessian in-process.

    A ``jaxtrain train`` checkpoint of a 64-width-width-10 tanh MLP on the digits; the command
    runs on all its training examples in a fresh process with an empty cache directory (cold),
    then again (warm: the programs come from the cache). PyHessian's top 5 runs on the same
    weights and examples inside this process, already set up, in alternating rounds with the
    warm command. The command does more than PyHessian: start-up and imports, the checkpoint
    and data, the loss and gradient, the 5 lowest and 5 highest eigenvalues at tol 1e-4 and a
    spectral density (2 probes × 80 Lanczos steps); PyHessian, the top 5 at tol 1e-3.
    """
    modules = import_pyhessian()
    if modules is None:
        return None
    from jaxtrain.cli._data_ref import load_reference
    from jaxtrain.cli._hessian import _restore

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, cache = os.path.join(tmp, "run"), os.path.join(tmp, "xla")
        _jaxtrain(
            *("train", "--data", "digits", "--width", str(width), "--depth", "2"),
            *("--activation", "tanh", "--epochs", str(epochs), "--checkpoint-dir", checkpoint),
            cache="off",
        )
        command = ("hessian", checkpoint, "--max-examples", "1000000")
        t_cold = _jaxtrain(*command, cache=cache)
        spec, ckpt, metadata, _ = _restore(checkpoint, None)
        (x, y), _, _ = load_reference(metadata["data"], spec.family)
        tree = ckpt.params
        params = [
            {"w": layer["linear"]["kernel"], "b": layer["linear"]["bias"]}
            for _, layer in sorted(tree["layers"].items(), key=lambda item: int(item[0]))
        ] + [{"w": tree["head"]["kernel"], "b": tree["head"]["bias"]}]
        run_pyhessian, counter, *_ = pyhessian_top5(*modules, params, x, y, device)
        run_pyhessian()  # warm-up: PyTorch's first call pays for its own set-up
        times_torch, times_warm = [], []
        for _ in range(max(repeats, 3)):
            counter["hvps"] = 0
            start = time.perf_counter()
            run_pyhessian()
            times_torch.append(time.perf_counter() - start)
            times_warm.append(_jaxtrain(*command, cache=cache))
    t_torch, t_warm = statistics.median(times_torch), statistics.median(times_warm)
    print(
        f"  {'-'.join(map(str, (64, width, width, 10)))} tanh, {num_params(params):,} parameters,"
        f" {x.shape[0]:,} examples: `jaxtrain hessian` first process {t_cold:.2f} s, second"
        f" (cache warm) median {t_warm:.2f} s; PyHessian top 5 in-process median {t_torch:.2f} s"
        f" ({counter['hvps']} HVPs): the warm command is {t_torch / t_warm:.2f}× as fast"
        f" (it takes {t_warm / t_torch:.2f}× PyHessian's time)"
    )
    return {
        "hessian_cold_seconds": t_cold,
        "hessian_warm_seconds": t_warm,
        "pyhessian_seconds": t_torch,
        "pyhessian_hvps": counter["hvps"],
        "speedup": t_torch / t_warm,
    }


# ---------------------------------------------------------------------------------------------
# 6. Lanczos variants: products to converge, and what a block of products costs.


def lanczos_variants(apply_fn, loss, params, x, y, repeats: int) -> dict[str, Any]:
    """Block Lanczos and restarted Lanczos against the single-vector Lanczos jaxtrain runs.

    Products until the top 5 are within 1e-3 of a tight reference: block Lanczos with full
    reorthogonalization, stopped by an oracle (the reference itself: no stopping rule does
    better), block sizes 1 (plain Lanczos), 2, 3, 5, 8; single-vector Lanczos started from
    J̄ᵀu instead of a random vector (J̄ the Jacobian of the mean logits over the examples, u a
    random centred logit direction: the Gauss–Newton term's outlying eigenvectors lie near
    the span of J̄ᵀ, so this start already leans towards the top); restarted Lanczos as
    ARPACK does it (SciPy's ``eigsh``, implicit restarts, which keep the same Ritz vectors as
    a thick restart) with tol 1e-3 and 12-32 basis vectors. Then the time of one product alone
    against a block of 8 (``jax.vmap`` of the linearized product), which is what a block
    method could gain per product. NumPy float64 outside the products.
    """
    import scipy.sparse.linalg

    flat, unravel = ravel_pytree(params)
    n = flat.size
    with jax.default_matmul_precision("highest"):
        reference = eigenvalues(
            hvp(loss, params, x, y), params, k=5, key=jax.random.key(1), tol=1e-7
        )
        linear = hvp(loss, params, x, y).linearize()
        product = jax.jit(lambda v: ravel_pytree(linear(unravel(v)))[0])
        block_product = jax.jit(jax.vmap(product))
    ref = np.asarray(reference.eigenvalues, np.float64)
    count = [0]

    def apply(v):
        count[0] += 1
        return np.asarray(product(jnp.asarray(v, flat.dtype)), np.float64)

    def within(theta):
        top = np.sort(theta)[::-1][:5]
        return top.size == 5 and np.max(np.abs(top - ref) / ref) <= 1e-3

    def products_until_within(start):
        count[0] = 0
        Q = np.linalg.qr(start)[0]
        basis, images = [Q], []
        while count[0] < 300:
            images.append(np.stack([apply(q) for q in Q.T], 1))
            V = np.concatenate(basis, 1)
            T = V.T @ np.concatenate(images, 1)
            if within(np.linalg.eigvalsh((T + T.T) / 2)):
                break
            W = images[-1]
            for _ in range(2):  # full reorthogonalization, twice is enough
                W = W - V @ (V.T @ W)
            Q = np.linalg.qr(W)[0]
            basis.append(Q)
        return count[0]

    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    for size in (1, 2, 3, 5, 8):
        results[f"block_{size}"] = products_until_within(rng.standard_normal((n, size)))
        print(
            f"  block Lanczos, block of {size}: {results[f'block_{size}']} products (oracle stop)"
        )
    mean_logits_vjp = jax.jit(
        lambda u: ravel_pytree(jax.grad(lambda p: jnp.mean(apply_fn(p, x) @ u))(params))[0]
    )
    classes = jax.eval_shape(apply_fn, params, x).shape[-1]
    results["mean_jacobian_start"] = []
    for _ in range(3):
        u = rng.standard_normal(classes)
        start = np.asarray(mean_logits_vjp(jnp.asarray(u - u.mean(), flat.dtype)), np.float64)
        results["mean_jacobian_start"].append(products_until_within(start[:, None]))
    print(
        "  single vector from J̄ᵀu (three random u):"
        f" {', '.join(map(str, results['mean_jacobian_start']))} products (oracle stop;"
        " + 1 vector-Jacobian product each)"
    )
    operator = scipy.sparse.linalg.LinearOperator((n, n), matvec=apply, dtype=np.float64)
    for ncv in (12, 16, 24, 32):
        count[0] = 0
        values = scipy.sparse.linalg.eigsh(
            operator, k=5, which="LA", ncv=ncv, tol=1e-3, v0=rng.standard_normal(n)
        )[0]
        error = float(np.max(np.abs(np.sort(values)[::-1] - ref) / ref))
        results[f"restarted_{ncv}"] = count[0]
        print(
            f"  restarted Lanczos (ARPACK, {ncv} vectors, tol 1e-3): {count[0]} products,"
            f" error {error:.1e}"
        )
    ours = eigenvalues(hvp(loss, params, x, y), params, k=5, key=jax.random.key(0), tol=1e-3)
    results["jaxtrain"] = ours.num_matvecs
    print(f"  jaxtrain (single vector, stops on its error bound): {ours.num_matvecs} products")
    # Looser stopping tolerances: how few products reach the accuracy PyHessian reaches
    # (section 3 measures its error at initialization, ~2.5e-2).
    results["jaxtrain_by_tol"] = {}
    for tol in (1e-2, 2e-2, 3e-2):
        loose = eigenvalues(hvp(loss, params, x, y), params, k=5, key=jax.random.key(0), tol=tol)
        got = np.asarray(loose.eigenvalues, np.float64)
        error = float(np.max(np.abs(got - ref) / ref))
        results["jaxtrain_by_tol"][tol] = {"products": loose.num_matvecs, "error": error}
        print(f"  jaxtrain at tol {tol:g}: {loose.num_matvecs} products, error {error:.1e}")
    one = jax.random.normal(jax.random.key(0), (1, n), flat.dtype)
    eight = jax.random.normal(jax.random.key(0), (8, n), flat.dtype)
    jax.block_until_ready((block_product(one), block_product(eight), product(one[0])))
    times_one, times_eight = [], []
    for _ in range(repeats * 2):  # alternating, so load hits both
        times_one.append(median_time(lambda: product(one[0]), 1))
        times_eight.append(median_time(lambda: block_product(eight), 1) / 8)
    t_one, t_eight = statistics.median(times_one), statistics.median(times_eight)
    results["ms_per_product"] = {"single": t_one * 1e3, "block_of_8": t_eight * 1e3}
    print(
        f"  one product {t_one * 1e3:.1f} ms; in a block of 8, {t_eight * 1e3:.1f} ms each"
        f" ({t_one / t_eight:.2f}× the throughput)"
    )
    return results


def main(argv=None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="PyTorch's CPU threads (default: its own choice). On a machine shared with other"
        " work, OpenMP's spinning threads can make 2 threads 10x slower than 1: try 1",
    )
    parser.add_argument(
        "--torch-device", default="cpu", help="where PyTorch runs: cpu, or cuda (JAX's GPU)"
    )
    parser.add_argument(
        "--sections",
        default="12345",
        help="which measurements to run, e.g. 35 (default: 1 to 5; 6, the start-vector "
        "study, only when named)",
    )
    parser.add_argument(
        "--pyhessian-at",
        default="init,trained",
        help="section 3's points: init, trained (and the narrower trained MLPs)",
    )
    args = parser.parse_args(argv)
    device = args.torch_device
    quick = args.quick
    repeats = 2 if quick else args.repeats
    if torch is not None and args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cores")
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    results: dict[str, Any] = {}

    sections = set(args.sections)
    mlp_sizes = (16, 32, 32, 10) if quick else (64, 256, 256, 10)
    examples = 256 if quick else 2048
    mlp_params = init_mlp(0, mlp_sizes)
    mlp_x, mlp_y = classification_data(0, (examples, mlp_sizes[0]), mlp_sizes[-1])
    mlp_loss = cross_entropy_loss(mlp)
    cnn_params = init_cnn(0, (3, 8, 16) if quick else (3, 16, 32), 10, 16)
    cnn_x, cnn_y = classification_data(1, (64 if quick else 256, 16, 16, 3), 10)
    cnn_loss = cross_entropy_loss(cnn)
    if "1" in sections:
        print("\n1. One HVP over one gradient")
        results["hvp_mlp"] = hvp_over_grad(
            f"MLP {'-'.join(map(str, mlp_sizes))} tanh",
            mlp_loss,
            mlp_params,
            mlp_x,
            mlp_y,
            repeats * 4,
        )
        results["hvp_cnn"] = hvp_over_grad(
            "CNN 2×conv3×3+pool, 16×16×3", cnn_loss, cnn_params, cnn_x, cnn_y, repeats * 4
        )

    if "2" in sections:
        print("\n2. Top eigenvalues to 1e-3: Lanczos vs power iteration (same MLP)")
        results["lanczos_vs_power"] = lanczos_vs_power(mlp_loss, mlp_params, mlp_x, mlp_y, repeats)

    if "3" in sections:
        results.update(
            pyhessian_section(
                mlp_loss,
                (mlp_params, mlp_x, mlp_y),
                mlp_sizes,
                args.pyhessian_at,
                quick,
                repeats,
                device,
            )
        )
    if "4" in sections:
        print("\n4. Dense Hessian + eigh against torch.autograd.functional.hessian + linalg.eigh")
        dense_sizes = (
            [(8, 24, 16, 6), (12, 32, 24, 8)] if quick else [(12, 40, 30, 6), (16, 80, 40, 10)]
        )
        results["dense"] = [
            dense_against_torch(s, 256, min(repeats, 3), device) for s in dense_sizes
        ]
    if "5" in sections:
        print("\n5. `jaxtrain hessian` in a fresh process (persistent cache) vs PyHessian")
        results["hessian_command"] = hessian_command_against_pyhessian(
            32 if quick else 256, 1 if quick else 3, repeats, device
        )
    if "6" in sections:
        print("\n6. Lanczos variants at initialization: products to the top 5 within 1e-3")
        results["variants"] = lanczos_variants(mlp, mlp_loss, mlp_params, mlp_x, mlp_y, repeats)
    return results


def pyhessian_section(loss, problem, mlp_sizes, at, quick, repeats, device):
    """Section 3: the top 5 against PyHessian at initialization and at trained points."""
    params, x, y = problem
    results = {}
    examples = x.shape[0]
    print("\n3. Top 5 against PyHessian 0.1 (same MLP, weights and data on both sides)")
    if "init" in at:
        print(f"  at initialization, {examples:,} random examples with random labels:")
        results["pyhessian"] = against_pyhessian(loss, params, x, y, repeats, device)
    if "trained" not in at:
        return results
    steps = 20 if quick else 300
    # The digits have 64 features: the quick run's smaller input layer grows to fit them.
    trained_params, digits_x, digits_y = trained_on_digits((64, *mlp_sizes[1:]), steps)
    print(f"  after {steps} Adam steps on the 1,797 digits (a point where Hessians are studied):")
    results["pyhessian_trained"] = against_pyhessian(
        loss, trained_params, digits_x, digits_y, repeats, device
    )
    # Narrower layers: less arithmetic per product, so per-product overheads weigh more.
    for width in () if quick else (32, 128):
        sizes = (64, width, width, 10)
        narrow, digits_x, digits_y = trained_on_digits(sizes, steps)
        print(f"  the same after {steps} Adam steps, {'-'.join(map(str, sizes))} tanh:")
        results[f"pyhessian_trained_{width}"] = against_pyhessian(
            loss, narrow, digits_x, digits_y, repeats, device
        )

    return results


if __name__ == "__main__":
    main()
