"""Builds the six lecture notebooks from the Python source below.

The notebooks are generated, not hand-edited, so a change reads as a normal diff of this file
and the committed ``.ipynb`` files never carry outputs. Run from anywhere:

    python notebooks/build.py            # rewrite notebooks/*.ipynb
    python notebooks/build.py --check    # exit 1 if a committed notebook is out of date

Each notebook: an "Open in Colab" badge, an install cell that adds jaxtrain from the repository
*without* touching the preinstalled jax (a Colab TPU keeps its matching libtpu), a setup cell
with the ``JAXTRAIN_QUICK=1`` small-size switch that CI uses, then the idea with its formula,
the jaxtrain code, the figures and an exercise.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import textwrap

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
REPO = "jaxtrain/jaxtrain"

INSTALL = """\
# Colab (TPU, GPU or CPU): install jaxtrain from the repository WITHOUT upgrading jax, so the
# runtime keeps the jax/jaxlib (and, on a TPU, the libtpu) it came with. Skipped when jaxtrain
# is already importable (a local checkout, CI).
import importlib
import importlib.util

if importlib.util.find_spec("jaxtrain") is None:
    %pip install --quiet --no-deps "jaxtrain @ git+https://github.com/jaxtrain/jaxtrain"
    # Only the dependencies this runtime lacks, pinned to the jax it already has.
    import pathlib, jax, jaxlib
    wanted = {"chex": "chex", "optax": "optax", "flax": "flax", "orbax": "orbax-checkpoint",
              "tqdm": "tqdm", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}
    missing = " ".join(pip for module, pip in wanted.items() if importlib.util.find_spec(module) is None)
    if missing:
        pathlib.Path("keep-jax.txt").write_text(f"jax=={jax.__version__}\\njaxlib=={jaxlib.__version__}\\n")
        %pip install --quiet -c keep-jax.txt {missing}
    importlib.invalidate_caches()
"""

SETUP = """\
import os

# CI runs every notebook with JAXTRAIN_QUICK=1: the same code at a small size, in seconds.
QUICK = os.environ.get("JAXTRAIN_QUICK", "0") == "1"

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxtrain

print(f"jaxtrain {jaxtrain.__version__}, jax {jax.__version__}, QUICK = {QUICK}")
print("devices:", jax.devices())
"""


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell from an indented block of text."""
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    """A code cell from an indented block of source."""
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))


def _badge(name: str) -> str:
    url = f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{name}.ipynb"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


# ---------------------------------------------------------------------------------------------
# 01 task strategy
# ---------------------------------------------------------------------------------------------


def _task_strategy() -> tuple[str, str, list]:
    intro = """\
    Before tuning anything, find out *why* training fails. The lecture's flowchart looks at
    the loss on the **training** data first:

    - **large training loss**: either **model bias** (no θ in the model's family fits: make
      the model more flexible) or an **optimization** issue (a good θ exists but gradient
      descent does not find it: a simpler model that trains *better* proves it);
    - **small training loss, large validation loss**: **overfitting** (fails on new data from
      the same distribution: more data, augmentation, constraints) or **mismatch** (the
      validation data come from another distribution).
    """
    cells = [
        md(
            r"""
            ## The idea

            Training minimizes the average loss over the N training examples,

            $$L(\theta) = \frac{1}{N}\sum_{n=1}^{N} e\big(f_\theta(x_n), \hat y_n\big).$$

            "Large" needs a yardstick: `jaxtrain.diagnose` measures every loss relative to the
            baseline $B$, the loss of the best constant prediction (the class prior). Seeds are
            paired, so a difference between two models is judged against seed noise.

            ## Optimization issue: a deep plain network vs a shallow one

            He et al. (2016) saw a 56-layer plain network train *worse* than a 20-layer one.
            `diagnose` trains every candidate with the same budget and seeds; here a shallow
            and a deep plain sigmoid MLP.
            """
        ),
        code(
            """
            from jaxtrain.data import load_digits, train_val_test_split
            from jaxtrain.diagnose import Budget, ModelSpec, diagnose

            x, y = load_digits()
            (x_train, y_train), (x_val, y_val), _ = train_val_test_split(x, y, val_fraction=0.2, seed=0)
            budget = Budget(steps=150 if QUICK else 400, seeds=1 if QUICK else 3)

            shallow = ModelSpec("mlp", (64,), 10, width=32, depth=1, activation="sigmoid")
            deep = ModelSpec("mlp", (64,), 10, width=32, depth=6, activation="sigmoid")
            diagnosis = diagnose([shallow, deep], (x_train, y_train), (x_val, y_val), budget=budget, curvature=False)
            print(diagnosis.headline)
            for reason in diagnosis.reasons:
                print("-", reason)
            diagnosis.plot_curves()
            plt.show()
            """
        ),
        md(
            """
            ## Mismatch

            Train on the digits as they are, validate on digits drawn with inverted ink
            (1 − x). The held-out split of the *training* distribution is fine, the validation
            set is not: the data mismatch, and more training data of the same kind would not
            help.
            """
        ),
        code(
            """
            spec = ModelSpec("mlp", (64,), 10, width=64, depth=1)
            mismatch = diagnose(spec, (x_train, y_train), (1.0 - x_val, y_val), budget=budget, curvature=False)
            c = mismatch.candidates[0]
            print(mismatch.headline)
            print({split: round(c.mean(split) / mismatch.baseline, 2) for split in ("train", "heldout", "val")})
            """
        ),
        md(
            """
            ## Data augmentation, and one that hurts

            Augmentation makes new training examples from old ones; it only helps when the
            new inputs are ones the model will meet. A one-pixel shift is; an upside-down
            digit is not (and turns a 6 into a 9).
            """
        ),
        code(
            """
            from jaxtrain.data import additive_noise, compose, random_crop, vertical_flip
            from jaxtrain.plot import plot_augmentations

            images, labels = load_digits(flatten=False)
            key = jax.random.key(0)
            good = compose(random_crop(1), additive_noise(0.05, clip=(0.0, 1.0)))
            fig, axes = plot_augmentations(good, images[:3], key, labels=labels[:3])
            fig.suptitle("shift by a pixel + noise: still the same digits")
            fig, axes = plot_augmentations(vertical_flip(1.0), images[[6, 9]], key, num_augmented=1, labels=labels[[6, 9]])
            fig.suptitle("upside down: a 6 becomes a 9")
            plt.show()
            """
        ),
        md(
            """
            ## Exercise

            1. Overfitting: give `diagnose` only 80 noisy spiral points
               (`jaxtrain.data.make_spirals(80, noise=0.2, seed=0)`) and a `ModelSpec` with
               128 units in 2 layers. Compare the held-out and training losses.
            2. Add `residual=True` or `norm="batch"` to the deep `ModelSpec`. Does the
               optimization issue go away?
            3. Use `jaxtrain.diagnose.cross_validate` with k = 3 to choose between depth 0, 1
               and 2 on the training data only.
            """
        ),
    ]
    return "1. Task strategy: why does training fail?", intro, cells


# ---------------------------------------------------------------------------------------------
# 02 critical points
# ---------------------------------------------------------------------------------------------


def _critical_points() -> tuple[str, str, list]:
    intro = """\
    When the loss stops falling the gradient may be zero, at a **critical point**. That need
    not be a local minimum: it can be a **saddle point**, and there the Hessian shows the way
    down.
    """
    cells = [
        md(
            r"""
            ## The idea

            Near θ′ the loss is its second-order Taylor expansion

            $$L(\theta) \approx L(\theta') + (\theta-\theta')^\top g + \tfrac12 (\theta-\theta')^\top H (\theta-\theta'),$$

            with the gradient $g = \nabla L(\theta')$ and the Hessian $H = \nabla^2 L(\theta')$.
            At a critical point $g = 0$, and for an eigenvector $u$ of $H$ with eigenvalue
            $\lambda$, $L(\theta' + u) \approx L(\theta') + \tfrac12 \lambda \lVert u\rVert^2$:
            all $\lambda > 0$ is a local minimum, mixed signs a saddle point, and a negative
            $\lambda$'s eigenvector is an escape direction.

            ## The lecture's toy network

            $\hat y = w_1 w_2 x$ with one example $x = 1$, $\hat y = 1$ and squared error:
            $L(w_1, w_2) = (1 - w_1 w_2)^2$.
            """
        ),
        code(
            """
            from jaxtrain.curvature import analyze_critical_point

            def loss(w):
                return (1.0 - w[0] * w[1]) ** 2

            saddle = analyze_critical_point(loss, jnp.zeros(2))
            print(saddle)
            new_w, change = saddle.escape(0.5)
            print("step 0.5 along u:", new_w, "loss change", round(change, 4), "predicted", round(saddle.predict(0.5), 4))
            """
        ),
        code(
            """
            from jaxtrain.landscape import loss_slice_1d, loss_surface_2d
            from jaxtrain.plot import plot_loss_slice_1d, plot_loss_surface_2d

            ticks = jnp.linspace(-2.0, 2.0, 81)
            surface = loss_surface_2d(loss, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), ticks, ticks)
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
            plot_loss_surface_2d(ticks, ticks, np.minimum(surface, 4.0), ax1, xlabel="w1", ylabel="w2")
            u = saddle.escape_direction
            ax1.annotate("", xy=tuple(1.2 * np.asarray(u)), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "white"})
            alphas = jnp.linspace(-1.6, 1.6, 101)
            plot_loss_slice_1d(alphas, loss_slice_1d(loss, jnp.zeros(2), u, alphas), ax2, xlabel="t along u")
            plt.show()
            """
        ),
        md(
            """
            ## The spectrum of a trained network

            A real network has many parameters: the dense Hessian is fine for a few thousand,
            Hessian-vector products and Lanczos for more. After training, most eigenvalues sit
            near zero and a few are large.
            """
        ),
        code(
            """
            from flax import nnx

            from jaxtrain.curvature import hvp, loss_from_model, spectral_density
            from jaxtrain.data import make_spirals
            from jaxtrain.losses import softmax_cross_entropy
            from jaxtrain.nn import MLP, functional
            from jaxtrain.optim import adam, optimize_trajectory
            from jaxtrain.plot import plot_density, plot_spectrum

            x, y = make_spirals(200, seed=0)
            apply, params, state = functional(MLP(2, 16, 2, depth=2, activation="tanh", rngs=nnx.Rngs(0)))
            loss_fn = loss_from_model(apply, state, [(x, y)], softmax_cross_entropy)
            path, losses = optimize_trajectory(adam(0.01), loss_fn, params, 1000 if QUICK else 3000)
            trained = jax.tree.map(lambda p: p[-1], path)

            report = analyze_critical_point(loss_fn, trained)
            print(report)
            density = spectral_density(hvp(loss_fn, trained), trained, num_probes=4, num_iters=40, key=jax.random.key(0))
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
            plot_spectrum(report.eigenvalues, ax1, eig_tol=report.eig_tol)
            plot_density(density, ax2)
            plt.show()
            """
        ),
        md(
            """
            ## Exercise

            1. Analyze the toy network at `(1.0, 1.0)`. Why is it "degenerate" although it is a
               global minimum?
            2. Stop the spiral network after 100, 300 and 1000 steps. How do the gradient norm,
               the minimum ratio and the number of negative eigenvalues change?
            3. Compare the dense spectrum with `jaxtrain.curvature.eigenvalues(hvp(...), k=5,
               which="both")`.
            """
        ),
    ]
    return "2. Critical points: local minima and saddle points", intro, cells


# ---------------------------------------------------------------------------------------------
# 03 batch and momentum
# ---------------------------------------------------------------------------------------------


def _batch_and_momentum() -> tuple[str, str, list]:
    intro = """\
    Two knobs of every training loop: how many examples each update sees (the **batch
    size**), and whether the update remembers where it was going (**momentum**).
    """
    cells = [
        md(
            r"""
            ## The idea

            An epoch splits the N examples into batches of B; each batch b gives the update
            $\theta \leftarrow \theta - \eta\, g_b$ with $g_b = \nabla L_b(\theta)$. A large B
            gives accurate gradients and, on parallel hardware, fast epochs; a small B gives
            noisy gradients, and the noise helps: a different batch has a different loss
            $L_b$, so where one is stuck the next is not.

            Momentum moves by a running sum of past gradients:

            $$m^{t+1} = \lambda m^t - \eta g^t, \qquad \theta^{t+1} = \theta^t + m^{t+1}.$$
            """
        ),
        code(
            """
            import time

            from flax import nnx

            from jaxtrain.data import load_digits, train_val_test_split
            from jaxtrain.losses import accuracy, softmax_cross_entropy
            from jaxtrain.nn import MLP
            from jaxtrain.optim import sgd
            from jaxtrain.train import evaluate, fit

            x, y = load_digits()
            (x_train, y_train), (x_val, y_val), _ = train_val_test_split(x, y, val_fraction=0.2, seed=0)
            epochs = 5 if QUICK else 20
            results = {}
            for batch_size in (16, len(x_train)):
                model = MLP(64, 64, 10, depth=1, rngs=nnx.Rngs(0))
                start = time.perf_counter()
                state, history = fit(model, sgd(0.1), (x_train, y_train), loss=softmax_cross_entropy,
                                     epochs=epochs, batch_size=batch_size, drop_last=True, progress=False)
                seconds = time.perf_counter() - start
                train = evaluate(state, (x_train, y_train), loss=softmax_cross_entropy, metrics=[accuracy])
                results[batch_size] = history
                print(f"batch {batch_size:5d}: train accuracy {train['accuracy']:.2f} after {epochs} epochs ({seconds:.1f} s incl. compile)")
                plt.plot(history.per_epoch["train_loss"], label=f"batch {batch_size}")
            plt.xlabel("epoch"); plt.ylabel("training loss"); plt.legend(); plt.show()
            """
        ),
        md(
            """
            ## Momentum crosses a ridge

            $L(\\theta) = \\theta^4 - 4\\theta^2 + \\theta$ has a shallow valley on the right and a
            deeper one on the left. `jaxtrain.optim.optimize_trajectory` keeps every step.
            """
        ),
        code(
            """
            from jaxtrain.optim import optimize_trajectory

            def ridge(theta):
                return theta[0] ** 4 - 4 * theta[0] ** 2 + theta[0]

            grid = np.linspace(-2.2, 2.7, 200)
            plt.plot(grid, grid**4 - 4 * grid**2 + grid, "k", lw=1)
            for name, optimizer in (("gradient descent", sgd(0.01)), ("momentum 0.9", sgd(0.01, momentum=0.9))):
                path, losses = optimize_trajectory(optimizer, ridge, jnp.array([2.5]), 150)
                plt.plot(np.asarray(path)[:, 0], losses, "o", ms=3, alpha=0.6, label=f"{name}: ends at {float(path[-1, 0]):.2f}")
            plt.ylim(-7, 18); plt.xlabel("θ"); plt.ylabel("loss"); plt.legend(); plt.show()
            """
        ),
        md(
            """
            ## Exercise

            1. Give both batch sizes the same number of *updates* instead of epochs. Which wins now?
            2. Measure the seconds per epoch of batch 1, 16, 256 and the full batch after a warm-up
               run (the first run compiles).
            3. Try `sgd(0.01, momentum=0.9, nesterov=True)` on the ridge, and momentum 0.5.
            """
        ),
    ]
    return "3. Batch and momentum", intro, cells


# ---------------------------------------------------------------------------------------------
# 04 adaptive learning rate
# ---------------------------------------------------------------------------------------------


def _adaptive_learning_rate() -> tuple[str, str, list]:
    intro = """\
    When training stalls the gradient is often *not* small: the parameters bounce between
    the walls of a narrow valley. One learning rate cannot suit a steep and a flat direction
    at once, so each parameter gets its own.
    """
    cells = [
        md(
            r"""
            ## The idea

            $$\theta_i^{t+1} = \theta_i^t - \frac{\eta^t}{\sigma_i^t}\, g_i^t$$

            - Adagrad: $\sigma_i^t = \sqrt{\tfrac{1}{t+1}\sum_{k=0}^{t} (g_i^k)^2}$;
            - RMSProp: $(\sigma_i^t)^2 = \alpha (\sigma_i^{t-1})^2 + (1-\alpha)(g_i^t)^2$;
            - Adam: RMSProp with momentum $m$ in place of $g$, both bias-corrected.

            Scheduling makes $\eta^t$ depend on the step: **decay** as training settles, and
            **warmup** at the start, while σ rests on only a few gradients.
            """
        ),
        code(
            """
            from jaxtrain.landscape import loss_surface_2d
            from jaxtrain.optim import adagrad, adam, effective_step_size, optimize_trajectory, rmsprop, sgd
            from jaxtrain.plot import plot_loss_surface_2d

            def valley(w):  # 100 times steeper across (w2) than along (w1)
                return 0.5 * (0.02 * w[0] ** 2 + 2.0 * w[1] ** 2)

            alphas, betas = jnp.linspace(-10, 2, 121), jnp.linspace(-2.5, 2.5, 61)
            surface = loss_surface_2d(valley, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), alphas, betas)
            fig, ax = plt.subplots(figsize=(8, 4))
            plot_loss_surface_2d(alphas, betas, surface, ax, colorbar=False, xlabel="w1", ylabel="w2")
            start = jnp.array([-9.0, 1.5])
            for name, optimizer in {"SGD 0.9": sgd(0.9), "SGD 0.2": sgd(0.2), "Adagrad 1": adagrad(1.0),
                                    "RMSProp 0.1": rmsprop(0.1), "Adam 0.3": adam(0.3)}.items():
                path, losses = optimize_trajectory(optimizer, valley, start, 100)
                ax.plot(path[:, 0], path[:, 1], ".-", ms=2, label=f"{name}: loss {float(losses[-1]):.1e}")
            ax.legend(fontsize=8); plt.show()

            optimizer = adagrad(1.0)
            state = optimizer.init(start)
            _, state = optimizer.update(jax.grad(valley)(start), state, start)
            print("Adagrad's step η/σ per parameter after one step:", effective_step_size(state))
            """
        ),
        code(
            """
            from jaxtrain.optim import schedules

            t = jnp.arange(1000)
            for name, schedule in {
                "cosine decay": schedules.cosine_decay(1e-3, 1000),
                "step decay": schedules.piecewise_constant(1e-3, {500: 0.1, 800: 0.1}),
                "warmup + cosine": schedules.warmup_cosine_decay(0.0, 1e-3, 100, 1000),
            }.items():
                plt.plot(t, schedule(t), label=name)
            plt.xlabel("step t"); plt.ylabel("η(t)"); plt.legend(); plt.show()
            """
        ),
        md(
            """
            ## Warmup on a real network

            Adam at a high learning rate, with and without warmup, on digits. Watch the first
            steps.
            """
        ),
        code(
            """
            from flax import nnx

            from jaxtrain.data import load_digits
            from jaxtrain.losses import softmax_cross_entropy
            from jaxtrain.nn import MLP
            from jaxtrain.train import fit

            x, y = load_digits()
            epochs, peak = (6 if QUICK else 20), 0.03
            steps = epochs * (len(x) // 64)
            for name, lr in {"no warmup": peak, "warmup 50": schedules.warmup_cosine_decay(0.0, peak, 50, steps)}.items():
                _, history = fit(MLP(64, 128, 10, depth=4, rngs=nnx.Rngs(0)), adam(lr), (x, y), loss=softmax_cross_entropy,
                                 epochs=epochs, batch_size=64, drop_last=True, progress=False)
                plt.plot(history.per_step["loss"], label=name, alpha=0.8)
            plt.yscale("log"); plt.xlabel("step"); plt.ylabel("training loss"); plt.legend(); plt.show()
            """
        ),
        md(
            r"""
            ## The edge of stability

            Why does a step size stop working? On a quadratic with curvature $\lambda$, gradient
            descent multiplies the distance to the minimum by $1 - \eta\lambda$ at every step,
            so it converges only while

            $$\lambda_{\max} < \frac{2}{\eta}.$$

            Cohen et al. (2021) watched the sharpness $\lambda_{\max}$ (the Hessian's largest
            eigenvalue) *during* full-batch training: it rises until it reaches $2/\eta$ and
            then hovers there, $\lambda_{\max}\eta/2 \approx 1$, while the loss keeps falling,
            though not monotonically. `jaxtrain.monitor.sharpness(every)` measures it inside the
            compiled training loop: `fit(..., monitors=[monitor.sharpness(25)])` records
            `history.per_step["sharpness"]` beside `["stability_threshold"]` (2/η here; 38/η
            for Adam's preconditioned sharpness). Below, a tanh MLP on the first 1,000
            standardized digits with the loss $\tfrac12\sum_k (\hat y_k - y_k)^2$; the tour's
            report and `examples/edge_of_stability.py` run the same function.
            """
        ),
        code(
            """
            from jaxtrain.cli._tour_stability import edge_of_stability, edge_summary, plot_edge_of_stability

            learning_rates, steps = ((0.5,), 240) if QUICK else ((0.1, 0.2, 0.5), 3000)
            runs = edge_of_stability(learning_rates, steps=steps, every=20)
            plot_edge_of_stability(runs); plt.show()
            for eta, run in runs.items():
                s = edge_summary(run)  # the ratio λmax·η/2 over the last half of the run
                print(f"η = {eta}: λmax·η/2 = {s['hover_min']:.2f}–{s['hover_max']:.2f} over steps "
                      f"{s['hover_from']}–{s['hover_to']}; loss {s['loss_start']:.3f} → {s['loss_end']:.4f}")
            """
        ),
        md(
            """
            ## Exercise

            1. Give SGD momentum 0.9 on the valley. Does it catch up with Adam?
            2. Plot `effective_step_size` of RMSProp along the valley path: how do its two
               entries evolve?
            3. Replace warmup by `jaxtrain.optim.radam(peak)`. Does it avoid the early spike?
            4. Run `edge_of_stability((3e-3,), steps=2000, every=25, optimizer="adam")`. Does
               Adam's preconditioned sharpness settle at its threshold 38/η?
            """
        ),
    ]
    return "4. Adaptive learning rates and schedules", intro, cells


# ---------------------------------------------------------------------------------------------
# 05 loss functions
# ---------------------------------------------------------------------------------------------


def _loss_functions() -> tuple[str, str, list]:
    intro = """\
    For classification the network outputs logits z, softmax turns them into probabilities ŷ,
    and a loss compares ŷ with the one-hot target y. Which loss changes how hard the
    optimization is.
    """
    cells = [
        md(
            r"""
            ## The idea

            $$\hat y_i = \frac{e^{z_i}}{\sum_j e^{z_j}}, \qquad
            e_{\text{MSE}} = \sum_i (y_i - \hat y_i)^2, \qquad
            e_{\text{CE}} = -\sum_i y_i \ln \hat y_i .$$

            Where the network is confidently wrong the softmax saturates: MSE's surface is flat
            there (tiny gradient, training is stuck), while cross-entropy keeps a slope.
            """
        ),
        code(
            """
            from jaxtrain.landscape import loss_surface_2d
            from jaxtrain.losses import mse, softmax_cross_entropy
            from jaxtrain.optim import optimize_trajectory, sgd
            from jaxtrain.plot import plot_loss_surface_2d

            def logits(z):  # three classes, the third far below: only (z1, z2) matter
                return jnp.stack([z[0], z[1], jnp.asarray(-1000.0)])

            losses = {
                "MSE after softmax": lambda z: mse(jax.nn.softmax(logits(z)), 0, reduction="sum"),
                "cross-entropy": lambda z: softmax_cross_entropy(logits(z), 0),
            }
            start = jnp.array([-10.0, 10.0])
            grid = jnp.linspace(-12, 12, 61 if QUICK else 121)
            fig, axes = plt.subplots(1, 2, figsize=(10, 4))
            for ax, (name, loss) in zip(axes, losses.items()):
                surface = loss_surface_2d(loss, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), grid, grid)
                plot_loss_surface_2d(grid, grid, surface, ax, mark_origin=False, xlabel="z1 (target)", ylabel="z2")
                path, values = optimize_trajectory(sgd(1.0), loss, start, 200)
                ax.plot(path[:, 0], path[:, 1], "w.-", ms=2)
                ax.set_title(f"{name}: |g| at start {float(jnp.linalg.norm(jax.grad(loss)(start))):.1e}")
            plt.show()
            """
        ),
        md(
            """
            ## Training a network from a confidently wrong start

            The head's weights start at zero and its bias predicts class 9 with certainty: every
            other digit starts on the plateau.
            """
        ),
        code(
            """
            from flax import nnx

            from jaxtrain.data import load_digits
            from jaxtrain.losses import accuracy
            from jaxtrain.nn import MLP
            from jaxtrain.train import evaluate, fit

            x, y = load_digits()

            def mse_after_softmax(z, labels):
                return mse(jax.nn.softmax(z), labels, reduction="none").sum(-1).mean()

            for name, loss in {"MSE after softmax": mse_after_softmax, "cross-entropy": softmax_cross_entropy}.items():
                model = MLP(64, 64, 10, depth=1, rngs=nnx.Rngs(0))
                model.head.kernel[...] = jnp.zeros_like(model.head.kernel[...])
                model.head.bias[...] = jnp.where(jnp.arange(10) == 9, 10.0, -10.0)
                state, history = fit(model, sgd(0.5), (x, y), loss=loss, epochs=3 if QUICK else 10,
                                     batch_size=64, drop_last=True, progress=False)
                result = evaluate(state, (x, y), loss=loss, metrics=[accuracy])
                plt.plot(history.per_step["loss"], label=f"{name}: accuracy {result['accuracy']:.2f}")
            plt.xlabel("step"); plt.ylabel("training loss"); plt.legend(); plt.show()
            """
        ),
        md(
            """
            ## Exercise

            1. Start at z = (0, 0) instead. Is MSE still stuck?
            2. Train the same network from an ordinary initialization (no poor bias) with both
               losses. How large is the difference now?
            3. For two classes, compare `jaxtrain.losses.sigmoid_binary_cross_entropy` on one
               logit with softmax cross-entropy on two.
            """
        ),
    ]
    return "5. Loss functions: cross-entropy vs MSE", intro, cells


# ---------------------------------------------------------------------------------------------
# 06 batch normalization
# ---------------------------------------------------------------------------------------------


def _batch_normalization() -> tuple[str, str, list]:
    intro = """\
    When features live on different scales the error surface is steep in some directions and
    flat in others. Batch normalization standardizes every feature over the batch.
    """
    cells = [
        md(
            r"""
            ## The idea

            For a batch $z^1, \dots, z^B$ of a layer's features:

            $$\mu = \frac1B \sum_b z^b, \quad \sigma = \sqrt{\frac1B \sum_b (z^b - \mu)^2}, \quad
            \tilde z^b = \frac{z^b - \mu}{\sigma}, \quad \hat z^b = \gamma \odot \tilde z^b + \beta .$$

            At test time there may be no batch: BatchNorm uses running averages collected in
            training, $\bar\mu \leftarrow p\,\bar\mu + (1-p)\,\mu$ (`momentum` = p).
            """
        ),
        code(
            """
            from flax import nnx

            from jaxtrain.data import load_digits, train_val_test_split
            from jaxtrain.losses import accuracy, softmax_cross_entropy
            from jaxtrain.nn import MLP, BatchNorm
            from jaxtrain.optim import sgd
            from jaxtrain.train import fit

            x, y = load_digits()
            (x_train, y_train), (x_test, y_test), _ = train_val_test_split(x, y, val_fraction=0.2, seed=0)
            epochs = 5 if QUICK else 30

            def batchnorm(features, *, rngs):
                return BatchNorm(features, momentum=0.9, rngs=rngs)

            states = {}
            for name, norm in (("without BatchNorm", None), ("with BatchNorm", batchnorm)):
                model = MLP(64, 64, 10, depth=4, activation="sigmoid", norm=norm, rngs=nnx.Rngs(0))
                states[name], history = fit(model, sgd(0.5), (x_train, y_train), loss=softmax_cross_entropy,
                                            epochs=epochs, batch_size=64, drop_last=True,
                                            val_data=(x_test, y_test), metrics=[accuracy], progress=False)
                plt.plot(history.per_epoch["val_accuracy"], label=name)
            plt.xlabel("epoch"); plt.ylabel("validation accuracy"); plt.legend(); plt.show()
            """
        ),
        md(
            """
            ## Test time: one example at a time

            With batch statistics a batch of one is normalized to zero, and every prediction is
            the same. The running statistics fix it.
            """
        ),
        code(
            """
            state = states["with BatchNorm"]
            apply, params, running = state.apply, state.params, state.model_state

            def predict_one(x, train):
                logits, _ = apply(params, running, x[None], train=train)
                return logits[0]

            for train in (True, False):
                logits = jax.vmap(lambda x: predict_one(x, train))(x_test)
                label = "batch statistics (batch of one)" if train else "running statistics"
                print(f"{label:32s} accuracy {float(accuracy(logits, y_test)):.2f}")
            """
        ),
        md(
            """
            ## Exercise

            1. Train with Flax's default `momentum=0.99` for a single epoch. Why are the running
               statistics then still poor?
            2. Replace BatchNorm by `"layer"` normalization: does a batch of one still fail?
            3. Try a learning rate 10 times larger with and without BatchNorm.
            """
        ),
    ]
    return "6. Batch normalization", intro, cells


NOTEBOOKS = {
    "01_task_strategy": _task_strategy,
    "02_critical_points": _critical_points,
    "03_batch_and_momentum": _batch_and_momentum,
    "04_adaptive_learning_rate": _adaptive_learning_rate,
    "05_loss_functions": _loss_functions,
    "06_batch_normalization": _batch_normalization,
}


def build_notebook(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` (a key of :data:`NOTEBOOKS`), without outputs."""
    title, intro, cells = NOTEBOOKS[name]()
    header = md(f"# {title}\n\n{_badge(name)}\n\n{textwrap.dedent(intro).strip()}")
    nb = nbformat.v4.new_notebook()
    nb.cells = [header, code(INSTALL), code(SETUP), *cells]
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    # Stable cell ids keep the committed files (and their diffs) reproducible.
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{index:02d}"
    return nb


def main(argv: list[str] | None = None) -> int:
    """Writes (or with ``--check`` verifies) every notebook; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook is stale")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        text = nbformat.writes(build_notebook(name))
        path = HERE / f"{name}.ipynb"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
