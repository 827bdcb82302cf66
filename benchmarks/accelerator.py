"""One prepared run on a lent GPU (or TPU): precision, benchmarks, tests; one JSON of figures.

A device is lent for minutes, so what it should measure is one script that needs no network
(the machine has jax with CUDA, flax, optax, orbax, torch and scikit-learn; a missing small
wheel such as pyhessian, or pytest and its plugins, is carried in a folder and installed from
it with ``--wheels``) and ends within ``--budget`` seconds (450, under 8 minutes): every stage
runs as a subprocess with its own time limit, one that fails or runs out of time is recorded
as such with the end of its output, and the JSON is rewritten after every stage, so a run cut
short keeps what it measured. From the checkout:

    PYTHONPATH=. python benchmarks/accelerator.py                   # writes $OUT/accelerator.json
    PYTHONPATH=. python benchmarks/accelerator.py --wheels wheels   # installs wheels/*.whl first
    PYTHONPATH=. python benchmarks/accelerator.py --quick           # tiny sizes: a CPU smoke run

Stages, in this order and each with its limit in ``LIMITS`` (``--only`` picks some):

1. ``environment``: versions, the default backend and its devices, whether PyTorch sees CUDA.
2. ``precision``: an MLP 64-128-128-10 (tanh) after 300 Adam steps on the digits; its loss,
   one Hessian-vector product and its top 5 Hessian eigenvalues (Lanczos) computed in float32
   on the default backend, once at ``precision=HIGHEST`` (as ``jaxtrain.curvature`` runs
   them) and once at the backend's default precision (TF32 passes on recent NVIDIA GPUs,
   bfloat16 passes on TPUs), each against float64 references computed on the CPU (a
   subprocess with ``JAX_ENABLE_X64``). Expected on a GPU: HIGHEST agrees (HVP errors
   about 1e-6) and the default precision visibly does not (about 1e-3); on a CPU both agree.
3. ``benchmark:optim``, ``benchmark:train``, ``benchmark:curvature``: those scripts of
   ``benchmarks/`` at their full size, PyTorch and PyHessian on the same GPU
   (``--torch-device cuda``) where PyTorch sees CUDA; the dict each ``main`` returns, and
   its printed tables.
4. ``tests``: pytest on the tests that run on whatever backend JAX defaults to (the
   optimizers, losses, layers, curvature, training, monitors and landscapes; not the ones
   that emulate CPU devices, start processes or need a browser), on the default backend: the
   count of each outcome and the failures' names, also of a run stopped at its limit.
5. ``benchmark:nn``, ``benchmark:monitor``: the other two benchmarks, as in 3.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
# The stages in order of importance (the first ones give the figures an accelerator run is
# for), each with the most seconds it may take; a stage gets less when less is left.
LIMITS = {
    "environment": 40,
    "precision": 70,
    "benchmark:optim": 35,
    "benchmark:train": 70,
    "benchmark:curvature": 150,
    "tests": 100,
    "benchmark:nn": 25,
    "benchmark:monitor": 35,
}
TEST_PATHS = (
    "tests/optim",
    "tests/losses",
    "tests/nn",
    "tests/curvature",
    "tests/train",
    "tests/monitor",
    "tests/landscape",
)
QUICK_TEST_PATHS = ("tests/losses",)
# Those emulate CPU devices or start processes (CPU by design), or need a browser.
TEST_EXCLUDED = (
    "--ignore=tests/train/test_multiprocess.py",
    "-m",
    "not multidevice and not browser",
)
OUTCOMES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
DISTRIBUTIONS = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "torch",
    "pyhessian",
    "scikit-learn",
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "matplotlib",
)
# Relative errors against float64 below which float32 at HIGHEST "agrees", and the factor by
# which the default precision's HVP error must exceed HIGHEST's to "visibly" differ.
AGREES = {"loss": 1e-5, "hvp": 1e-4, "eigenvalues": 1e-3}
VISIBLY = 10.0


# ---------------------------------------------------------------------------------------------
# JSON.


def jsonable(value: Any) -> Any:
    """``value`` as JSON data: tuples and arrays as lists, keys as strings, NaN as ``None``."""
    if isinstance(value, dict):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return jsonable(value._asdict())
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy and JAX arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _key(key: Any) -> str:
    return ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _write_json(path: pathlib.Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(jsonable(data), indent=1) + "\n")
    os.replace(temporary, path)


# ---------------------------------------------------------------------------------------------
# The stages (each runs in its own process: ``--stage NAME``).


def torch_sees_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def stage_environment(quick: bool) -> dict[str, Any]:
    del quick
    import jax

    versions = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "versions": versions,
        "backend": jax.default_backend(),
        "devices": [getattr(d, "device_kind", str(d)) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "torch_cuda": torch_sees_cuda(),
    }
    if info["torch_cuda"]:
        import torch

        info["torch_device"] = torch.cuda.get_device_name(0)
    return info


def _precision_problem(quick: bool):
    """``(sizes, params, x, y, loss)``: the MLP after its Adam steps on the digits."""
    import curvature as bench  # benchmarks/curvature.py

    sizes = (64, 16, 16, 10) if quick else (64, 128, 128, 10)
    params, x, y = bench.trained_on_digits(sizes, 20 if quick else 300)
    return sizes, params, x, y, bench.cross_entropy_loss(bench.mlp)


def stage_reference(data: pathlib.Path, out: pathlib.Path) -> None:
    """float64 on the CPU: the loss, H·v and the top 5 eigenvalues of ``data``'s problem."""
    import curvature as bench
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from jaxtrain.curvature import eigenvalues, hvp

    assert jax.config.jax_enable_x64 and jax.default_backend() == "cpu"
    with np.load(data) as saved:
        sizes = tuple(int(s) for s in saved["sizes"])
        template = jax.tree.map(lambda a: a.astype(jnp.float64), bench.init_mlp(0, sizes))
        unravel = ravel_pytree(template)[1]
        params = unravel(jnp.asarray(saved["params"], jnp.float64))
        v = unravel(jnp.asarray(saved["v"], jnp.float64))
        x, y = jnp.asarray(saved["x"], jnp.float64), jnp.asarray(saved["y"])
    loss = bench.cross_entropy_loss(bench.mlp)
    matvec = hvp(loss, params, x, y)
    top = eigenvalues(matvec, params, k=5, key=jax.random.key(0), tol=1e-10)
    np.savez(
        out,
        loss=np.float64(loss(params, x, y)),
        hvp=np.asarray(ravel_pytree(matvec(v))[0]),
        eigenvalues=np.asarray(top.eigenvalues),
    )


def _measure(loss, params, x, y, v, precision: str) -> dict[str, Any]:
    """float32 on the default backend at ``precision``: loss, H·v, top 5, ms per H·v."""
    import jax
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from jaxtrain.curvature import eigenvalues

    @jax.jit
    def product(p, x, y, u):
        # The same product at both precisions (eigenvalues traces at HIGHEST; this context
        # inside it sets the one compared), so hvp_ms differs by the precision alone.
        with jax.default_matmul_precision(precision):
            return jax.jvp(lambda q: jax.grad(loss)(q, x, y), (p,), (u,))[1]

    # The point and the data as leaves of the product, not captured: XLA folds captured
    # arrays as constants at compile time (the forward pass in float32 on the host, not at
    # the device's precision), in eigenvalues' own trace as in the timing.
    matvec = jax.tree_util.Partial(product, params, x, y)

    with jax.default_matmul_precision(precision):
        value = float(jax.jit(loss)(params, x, y))
    hv = jax.block_until_ready(matvec(v))
    times = []
    for _ in range(10):
        start = time.perf_counter()
        jax.block_until_ready(matvec(v))
        times.append(time.perf_counter() - start)
    top = eigenvalues(matvec, params, k=5, key=jax.random.key(0), tol=1e-6)
    return {
        "loss": value,
        "hvp": np.asarray(ravel_pytree(hv)[0], np.float64),
        "eigenvalues": np.asarray(top.eigenvalues, np.float64),
        "hvp_ms": 1e3 * float(np.median(times)),
        "lanczos_matvecs": int(top.num_matvecs),
    }


def stage_precision(quick: bool) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree

    sizes, params, x, y, loss = _precision_problem(quick)
    flat, unravel = ravel_pytree(params)
    direction = np.random.default_rng(0).standard_normal(flat.size)
    v = unravel(jnp.asarray(direction / np.linalg.norm(direction), jnp.float32))
    with tempfile.TemporaryDirectory() as tmp:
        data, out = pathlib.Path(tmp, "problem.npz"), pathlib.Path(tmp, "reference.npz")
        np.savez(
            data,
            sizes=np.asarray(sizes),
            params=np.asarray(flat),
            v=np.asarray(ravel_pytree(v)[0]),
            x=np.asarray(x),
            y=np.asarray(y),
        )
        # The float64 reference runs on the CPU while the device measures; it stays in this
        # stage's process group, so stopping the stage stops it too.
        env = dict(_child_env(), JAX_PLATFORMS="cpu", JAX_ENABLE_X64="1")
        command = [sys.executable, __file__, "--stage", "reference", "--data", str(data)]
        reference = subprocess.Popen([*command, "--stage-out", str(out)], env=env, cwd=ROOT)
        try:
            measured = {p: _measure(loss, params, x, y, v, p) for p in ("highest", "default")}
            if reference.wait(timeout=LIMITS["precision"]) != 0:
                raise RuntimeError(f"the float64 reference failed (exit {reference.returncode})")
        finally:
            _stop(reference, group=False)
        with np.load(out) as saved:
            ref = {k: saved[k] for k in ("loss", "hvp", "eigenvalues")}
    result: dict[str, Any] = {
        "model": "MLP " + "-".join(map(str, sizes)) + " tanh, digits",
        "parameters": int(flat.size),
        "backend": jax.default_backend(),
        "reference_eigenvalues": ref["eigenvalues"],
    }
    for name, m in measured.items():
        errors = np.abs(m["eigenvalues"] - ref["eigenvalues"]) / np.abs(ref["eigenvalues"])
        result[name] = {
            "loss_error": abs(m["loss"] - float(ref["loss"])) / abs(float(ref["loss"])),
            "hvp_error": float(np.linalg.norm(m["hvp"] - ref["hvp"]) / np.linalg.norm(ref["hvp"])),
            # Lanczos in float32 stops at what the dtype resolves (its tolerance floor), so
            # the lower of the 5 carry that error too: the top one shows the precision best.
            "eigenvalue_errors": errors,
            "eigenvalue_error": float(np.max(errors)),
            "eigenvalues": m["eigenvalues"],
            "hvp_ms": m["hvp_ms"],
            "lanczos_matvecs": m["lanczos_matvecs"],
        }
    highest, default = result["highest"], result["default"]
    result["highest_agrees"] = (
        highest["loss_error"] < AGREES["loss"]
        and highest["hvp_error"] < AGREES["hvp"]
        and highest["eigenvalue_error"] < AGREES["eigenvalues"]
    )
    result["default_visibly_differs"] = default["hvp_error"] > max(
        VISIBLY * highest["hvp_error"], AGREES["hvp"] / 10
    )
    print(json.dumps(jsonable(result), indent=1))
    return result


def stage_benchmark(name: str, quick: bool) -> dict[str, Any]:
    module = importlib.import_module(name)  # benchmarks/<name>.py
    argv = ["--quick"] if quick else []
    if name in ("train", "curvature") and torch_sees_cuda():
        argv += ["--torch-device", "cuda"]
    return {"argv": argv, "results": module.main(argv)}


STAGES = {"environment": stage_environment, "precision": stage_precision}


# ---------------------------------------------------------------------------------------------
# Running the stages.


def _child_env(extra_path: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT), str(HERE), *([extra_path] if extra_path else [])]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # JAX, PyTorch and the test workers share one GPU: none may take most of its memory.
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    # A stage stopped at its limit still shows all it printed.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(process: subprocess.Popen, *, group: bool = True) -> None:
    """Ends ``process`` and, with ``group`` (it leads its own session), all it started."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
    process.wait()


def _run(command: list[str], limit: float, log: pathlib.Path, env: dict[str, str]) -> dict:
    """Runs ``command`` for at most ``limit`` seconds, its output to ``log``."""
    began = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=limit)
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {limit:.0f} s"
        finally:
            _stop(process)
    return {"status": status, "seconds": round(time.perf_counter() - began, 1)}


def run_stage(name: str, limit: float, quick: bool, workdir: pathlib.Path, env) -> dict:
    out = workdir / f"{name.replace(':', '-')}.json"
    command = [sys.executable, __file__, "--stage", name, "--stage-out", str(out)]
    log = workdir / f"{name.replace(':', '-')}.log"
    out.unlink(missing_ok=True)  # the logs folder outlives a run: no earlier run's result
    record = _run([*command, *(["--quick"] if quick else [])], limit, log, env)
    if out.exists():
        record["result"] = json.loads(out.read_text())
    record["output_tail"] = log.read_text(errors="replace")[-6000:]
    return record


def run_tests(limit: float, quick: bool, workdir: pathlib.Path, env, extra_path) -> dict:
    """pytest on the backend-independent tests; counts from its per-test lines, so a run
    stopped at the limit still reports what finished."""
    missing = [
        m
        for m in ("pytest", "hypothesis", "matplotlib")
        if importlib.util.find_spec(m) is None and not _in(extra_path, m)
    ]
    if missing:
        return {"status": f"skipped: {', '.join(missing)} not installed (carry their wheels)"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--tb=line"]
    command += list(TEST_EXCLUDED)
    if importlib.util.find_spec("xdist") or _in(extra_path, "xdist"):
        if not quick:
            command += ["-n", str(min(8, os.cpu_count() or 1))]
    else:
        command += ["-o", f"addopts={_addopts_without_xdist()}"]
    command += list(QUICK_TEST_PATHS if quick else TEST_PATHS)
    log = workdir / "tests.log"
    record = _run(command, limit, log, env)
    text = log.read_text(errors="replace")
    counts = dict.fromkeys(OUTCOMES, 0)
    failures = []
    for line in text.splitlines():
        found = re.search(r"\b(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", line)
        test = re.search(r"(tests/\S+::\S+)", line)
        if found and test and not line.startswith(("FAILED ", "ERROR ")):
            counts[found[1]] += 1
            if found[1] in ("FAILED", "ERROR"):
                failures.append(test[1])
    summary = re.findall(r"^=+ (.+ in [\d.]+s.*?) =+$", text, flags=re.MULTILINE)
    record.update(
        command=" ".join(command[1:]),
        counts=counts,
        failures=failures[:100],
        summary=summary[-1] if summary else None,
        output_tail=text[-4000:],
    )
    return record


def _addopts_without_xdist() -> str:
    """pyproject's pytest ``addopts`` without xdist's ``--dist``, which pytest refuses when the
    plugin is missing."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        options = tomllib.load(handle)["tool"]["pytest"]["ini_options"]["addopts"].split()
    kept, value_of_dist = [], False
    for option in options:
        if not value_of_dist and option != "--dist" and not option.startswith("--dist="):
            kept.append(option)
        value_of_dist = option == "--dist"
    return " ".join(kept)


def _in(folder: str | None, module: str) -> bool:
    return bool(folder) and (pathlib.Path(folder) / module).exists()


def install_wheels(folder: pathlib.Path, target: pathlib.Path) -> dict[str, Any]:
    """Installs every wheel in ``folder`` into ``target`` from the folder alone (no index)."""
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if not wheels:
        return {"status": f"no wheels in {folder}"}
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet"]
    done = subprocess.run(
        [*command, "--target", str(target), *wheels], capture_output=True, text=True, check=False
    )
    status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[-500:]}"
    return {"status": status, "wheels": [pathlib.Path(w).name for w in wheels]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a CPU smoke run")
    parser.add_argument(
        "--out",
        default=str(pathlib.Path(os.environ.get("OUT", "."), "accelerator.json")),
        help="the JSON of every figure, its stages' logs in a folder beside it (default: "
        "accelerator.json in $OUT, the folder a lent machine sends back, or here)",
    )
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything")
    parser.add_argument("--wheels", help="a folder of wheels to install first (no index)")
    parser.add_argument("--only", nargs="*", help="stages to run (environment, precision, ...)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--stage-out", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:  # inside a stage's own process
        if args.stage == "reference":
            stage_reference(pathlib.Path(args.data), pathlib.Path(args.stage_out))
            return {}
        if args.stage.startswith("benchmark:"):
            result = stage_benchmark(args.stage.split(":", 1)[1], args.quick)
        else:
            result = STAGES[args.stage](args.quick)
        _write_json(pathlib.Path(args.stage_out), result)
        return result

    deadline = time.monotonic() + args.budget
    out = pathlib.Path(args.out).absolute()
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "budget_seconds": args.budget,
        "stages": {},
    }
    names = [n for n in LIMITS if not args.only or n in args.only or n.split(":")[-1] in args.only]
    # The stages' logs and JSONs beside the report: a lent machine sends back only what is in
    # its output folder, and a stage cut short keeps its whole log there.
    workdir = out.parent / f"{out.stem}-logs"
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="accelerator-") as tmp:
        extra_path = None
        if args.wheels:
            extra_path = str(pathlib.Path(tmp, "wheels"))
            report["wheels"] = install_wheels(pathlib.Path(args.wheels), pathlib.Path(extra_path))
        env = _child_env(extra_path)
        for name in names:
            limit = min(LIMITS[name], deadline - time.monotonic())
            print(f"== {name} (at most {max(limit, 0):.0f} s)", flush=True)
            if limit < 5:
                record: dict[str, Any] = {"status": "skipped: the budget is spent"}
            elif name == "tests":
                record = run_tests(limit, args.quick, workdir, env, extra_path)
            else:
                record = run_stage(name, limit, args.quick, workdir, env)
            report["stages"][name] = record
            print(f"   {record['status']} ({record.get('seconds', 0)} s)", flush=True)
            _write_json(out, report)
    report["seconds"] = round(args.budget - (deadline - time.monotonic()), 1)
    _write_json(out, report)
    print(f"wrote {out} ({report['seconds']} s)")
    return report


if __name__ == "__main__":
    main()
