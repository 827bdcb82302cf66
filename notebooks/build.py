"""Builds the six lecture notebooks from the Python source below.

The notebooks are generated, not hand-edited, so a change reads as a normal diff of this file
and the committed ``.ipynb`` files never carry outputs. Run from anywhere:

    python notebooks/build.py            # rewrite notebooks/*.ipynb
    python notebooks/build.py --check    # exit 1 if a committed notebook is out of date

Each notebook: an "Open in Colab" badge, an install cell that adds jaxtrain from the repository
*without* touching the preinstalled jax (a Colab TPU keeps its matching libtpu), a setup cell
with the ``JAXTRAIN_QUICK=1`` small-size switch that CI uses, then the idea with its formula,
the section's claims and exercises. Every claim is an experiment of ``jaxtrain.lecture``, the
same function the tour and the examples run: the notebook shows its figure and caption and
links to its code; no experiment is written here.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import textwrap

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
REPO = "jaxtrain/jaxtrain"
SOURCE = f"https://github.com/{REPO}/blob/main/jaxtrain/lecture"

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
from jaxtrain import lecture

# Every experiment takes this configuration: the quick size or the lecture's full size.
config = lecture.LectureConfig(quick=QUICK)
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


@dataclasses.dataclass(frozen=True)
class Notebook:
    """One lecture section as a notebook: prose around the section's claims."""

    section: str
    title: str
    intro: str
    idea: str
    claims: tuple[tuple[str, str], ...]  # (experiment name, what it measures)
    exercises: str

    def cells(self) -> list[nbformat.NotebookNode]:
        cells = [md(self.idea)]
        for experiment, text in self.claims:
            link = f"[`lecture.{self.section}.{experiment}`]({SOURCE}/{self.section}.py)"
            cells.append(md(f"{textwrap.dedent(text).strip()}\n\nThe code: {link}."))
            call = f"lecture.{self.section}.{experiment}(config, seed=0)"
            cells.append(code(f"claim = {call}\nclaim"))
        cells.append(md(self.exercises))
        return cells


TASK_STRATEGY = Notebook(
    section="task_strategy",
    title="1. Task strategy: why does training fail?",
    intro="""\
    Before tuning anything, find out *why* training fails. The lecture's flowchart looks at
    the loss on the **training** data first:

    - **large training loss**: either **model bias** (no θ in the model's family fits: make
      the model more flexible) or an **optimization** issue (a good θ exists but gradient
      descent does not find it: a simpler model that trains *better* proves it);
    - **small training loss, large validation loss**: **overfitting** (fails on new data from
      the same distribution: more data, augmentation, constraints) or **mismatch** (the
      validation data come from another distribution).
    """,
    idea=r"""
    ## The idea

    Training minimizes the average loss over the N training examples,

    $$L(\theta) = \frac{1}{N}\sum_{n=1}^{N} e\big(f_\theta(x_n), \hat y_n\big).$$

    "Large" needs a yardstick: `jaxtrain.diagnose` measures every loss relative to the
    baseline $B$, the loss of the best constant prediction (the class prior). Seeds are
    paired, so a difference between two models is judged against seed noise.
    """,
    claims=(
        (
            "model_bias",
            """
            ## Model bias: the model family is too simple

            A linear model cannot separate three interleaved spirals, however well it is
            trained; a network with one hidden layer can. `jaxtrain.diagnose` compares the two.
            """,
        ),
        (
            "deep_vs_shallow",
            """
            ## Optimization issue: a deep plain network vs a shallow one

            He et al. (2016) saw a 56-layer plain network train *worse* than a 20-layer one.
            `diagnose` trains every candidate with the same budget and seeds; here a shallow
            and a deep plain sigmoid MLP.
            """,
        ),
        (
            "what_went_wrong",
            """
            ## What went wrong in *this* run?

            `jaxtrain.diagnose.explain_run` watches one run from inside its compiled steps
            (sharpness against 2/η, gradient noise, update sizes) and ranks the lecture's
            causes by the evidence.
            """,
        ),
        (
            "overfitting_and_mismatch",
            """
            ## Overfitting and mismatch

            Small training loss, large validation loss. A held-out split of the *training*
            distribution tells the two apart: overfitting fails on it too, mismatch does not.
            """,
        ),
        (
            "augmentation",
            """
            ## Data augmentation

            Augmentation makes new training examples from old ones; it can only help when the
            new inputs are ones the model will meet. The figure measures two of them.
            """,
        ),
    ),
    exercises="""
    ## Exercise

    1. Overfitting: in the spirals case of `overfitting_and_mismatch`, double the number of
       training points, then halve the network's width. Which brings the held-out loss down
       more?
    2. Copy `deep_vs_shallow` and add `residual=True` or `norm="batch"` to the deep
       `ModelSpec`. Does the optimization issue go away?
    3. Use `jaxtrain.diagnose.cross_validate` with k = 3 to choose between depth 0, 1 and 2
       on the training data only.
    """,
)

CRITICAL_POINTS = Notebook(
    section="critical_points",
    title="2. Critical points: local minima and saddle points",
    intro="""\
    When the loss stops falling the gradient may be zero, at a **critical point**. That need
    not be a local minimum: it can be a **saddle point**, and there the Hessian shows the way
    down.
    """,
    idea=r"""
    ## The idea

    Near θ′ the loss is its second-order Taylor expansion

    $$L(\theta) \approx L(\theta') + (\theta-\theta')^\top g + \tfrac12 (\theta-\theta')^\top H (\theta-\theta'),$$

    with the gradient $g = \nabla L(\theta')$ and the Hessian $H = \nabla^2 L(\theta')$.
    At a critical point $g = 0$, and for an eigenvector $u$ of $H$ with eigenvalue
    $\lambda$, $L(\theta' + u) \approx L(\theta') + \tfrac12 \lambda \lVert u\rVert^2$:
    all $\lambda > 0$ is a local minimum, mixed signs a saddle point, and a negative
    $\lambda$'s eigenvector is an escape direction.
    """,
    claims=(
        (
            "toy_saddle",
            r"""
            ## The lecture's toy network

            $\hat y = w_1 w_2 x$ with one example $x = 1$, $\hat y = 1$ and squared error:
            $L(w_1, w_2) = (1 - w_1 w_2)^2$. At the origin the gradient is zero.
            """,
        ),
        (
            "escaping_a_saddle",
            """
            ## The way down

            At the saddle the gradient is zero, so gradient descent does not move. A step along
            the eigenvector of the negative eigenvalue does; so does a tiny random nudge, more
            slowly.
            """,
        ),
        (
            "trained_spectrum",
            """
            ## The spectrum of a trained network

            A real network has many parameters: the dense Hessian is fine for a few thousand,
            Hessian-vector products and Lanczos for more. Here a small tanh network fits a
            curve until its gradient is nearly zero.
            """,
        ),
        (
            "minimum_ratio_vs_loss",
            """
            ## Minimum ratio against training loss

            The lecture's minimum ratio is the fraction of positive eigenvalues; it plots the
            ratio against the loss of many trained networks.
            """,
        ),
    ),
    exercises="""
    ## Exercise

    1. Analyze the toy network at `(1.0, 1.0)` with
       `jaxtrain.curvature.analyze_critical_point`. Why is it "degenerate" although it is a
       global minimum?
    2. Stop the network of `trained_spectrum` after 100, 300 and 1000 Adam steps. How do the
       gradient norm, the minimum ratio and the number of negative eigenvalues change?
    3. Compare the dense spectrum with `jaxtrain.curvature.eigenvalues(hvp(...), k=5,
       which="both")`.
    """,
)

BATCH_AND_MOMENTUM = Notebook(
    section="batch_and_momentum",
    title="3. Batch and momentum",
    intro="""\
    Two knobs of every training loop: how many examples each update sees (the **batch
    size**), and whether the update remembers where it was going (**momentum**).
    """,
    idea=r"""
    ## The idea

    An epoch splits the N examples into batches of B; each batch b gives the update
    $\theta \leftarrow \theta - \eta\, g_b$ with $g_b = \nabla L_b(\theta)$. A large B
    gives accurate gradients and, on parallel hardware, fast epochs; a small B gives
    noisy gradients, and the noise helps: a different batch has a different loss
    $L_b$, so where one is stuck the next is not.

    Momentum moves by a running sum of past gradients:

    $$m^{t+1} = \lambda m^t - \eta g^t, \qquad \theta^{t+1} = \theta^t + m^{t+1}.$$
    """,
    claims=(
        (
            "batch_size",
            """
            ## Small and large batches

            The same network and number of epochs, with batches of 16 and the full batch.
            """,
        ),
        (
            "critical_batch_size",
            r"""
            ## The critical batch size

            Past some batch size, a larger batch no longer saves steps. McCandlish et al.
            (2018) predict where from the gradient noise scale
            $B_\text{simple} = \operatorname{tr}(\Sigma)/\lVert G\rVert^2$, which
            `jaxtrain.monitor.gradient_noise_scale` measures inside the training steps.
            """,
        ),
        (
            "momentum_ridge",
            r"""
            ## Momentum crosses a ridge

            $L(\theta) = \theta^4 - 4\theta^2 + \theta$ has a shallow valley on the right and a
            deeper one on the left.
            """,
        ),
    ),
    exercises="""
    ## Exercise

    1. Give both batch sizes the same number of *updates* instead of epochs. Which wins now?
    2. Measure the seconds per epoch of batch 1, 16, 256 and the full batch after a warm-up
       run (the first run compiles).
    3. Try `sgd(0.01, momentum=0.9, nesterov=True)` on the ridge, and momentum 0.5.
    """,
)

ADAPTIVE_LEARNING_RATE = Notebook(
    section="adaptive_learning_rate",
    title="4. Adaptive learning rates and schedules",
    intro="""\
    When training stalls the gradient is often *not* small: the parameters bounce between
    the walls of a narrow valley. One learning rate cannot suit a steep and a flat direction
    at once, so each parameter gets its own.
    """,
    idea=r"""
    ## The idea

    $$\theta_i^{t+1} = \theta_i^t - \frac{\eta^t}{\sigma_i^t}\, g_i^t$$

    - Adagrad: $\sigma_i^t = \sqrt{\tfrac{1}{t+1}\sum_{k=0}^{t} (g_i^k)^2}$;
    - RMSProp: $(\sigma_i^t)^2 = \alpha (\sigma_i^{t-1})^2 + (1-\alpha)(g_i^t)^2$;
    - Adam: RMSProp with momentum $m$ in place of $g$, both bias-corrected.

    Scheduling makes $\eta^t$ depend on the step: **decay** as training settles, and
    **warmup** at the start, while σ rests on only a few gradients.
    """,
    claims=(
        (
            "stuck_is_not_small_gradient",
            """
            ## Stuck is not a small gradient

            The loss stops falling, yet the gradient norm stays large: the parameters bounce
            across a narrow valley.
            """,
        ),
        (
            "narrow_surface",
            """
            ## A narrow valley

            A loss 100 times steeper across than along: plain SGD against Adagrad, RMSProp and
            Adam from the same start.
            """,
        ),
        (
            "edge_of_stability",
            r"""
            ## The edge of stability

            On a quadratic with curvature $\lambda$, gradient descent multiplies the distance to
            the minimum by $1 - \eta\lambda$ at every step, so it converges only while
            $\lambda_{\max} < 2/\eta$. Cohen et al. (2021) watched the sharpness
            $\lambda_{\max}$ *during* full-batch training: it rises to $2/\eta$ and hovers
            there while the loss keeps falling. `jaxtrain.monitor.sharpness(every)` measures it
            inside the compiled training loop.
            """,
        ),
        (
            "rmsprop_alpha",
            r"""
            ## RMSProp's α: how fast σ forgets

            A gradient that jumps up and then down: with a small α, σ follows within a few
            steps; with α near 1, or Adagrad's mean over all of the past, it lags.
            """,
        ),
        (
            "learning_rate_decay",
            r"""
            ## Learning-rate decay

            Near the minimum the gradients shrink, σ shrinks with them and the step $\eta/\sigma$
            grows until it blows up; a decaying $\eta^t$ holds it back.
            """,
        ),
        (
            "schedules",
            """
            ## Learning-rate schedules

            The schedules of `jaxtrain.optim.schedules`, step by step.
            """,
        ),
        (
            "warmup",
            """
            ## Warmup on a real network

            Adam at a high learning rate, with and without warmup, on digits. Watch the first
            steps.
            """,
        ),
        (
            "momentum_and_sigma",
            r"""
            ## Momentum and σ do not cancel

            $m$ sums the gradients with their signs, $\sigma$ their sizes: for a gradient that
            keeps its direction the two agree, for one that bounces $m$ nearly cancels.
            """,
        ),
    ),
    exercises="""
    ## Exercise

    1. Give SGD momentum 0.9 on the valley. Does it catch up with Adam?
    2. In `rmsprop_alpha`, try α = 0.9. How many steps does σ need after each jump now?
    3. In `warmup`, shorten the warmup from 50 steps to 10. Is the early spike back?
    4. Run the edge-of-stability experiment with Adam (`config = lecture.LectureConfig()` runs
       it at full size). Does Adam's preconditioned sharpness settle at its threshold 38/η?
    """,
)

LOSS_FUNCTIONS = Notebook(
    section="loss_functions",
    title="5. Loss functions: cross-entropy vs MSE",
    intro="""\
    For classification the network outputs logits z, softmax turns them into probabilities ŷ,
    and a loss compares ŷ with the one-hot target y. Which loss changes how hard the
    optimization is.
    """,
    idea=r"""
    ## The idea

    $$\hat y_i = \frac{e^{z_i}}{\sum_j e^{z_j}}, \qquad
    e_{\text{MSE}} = \sum_i (y_i - \hat y_i)^2, \qquad
    e_{\text{CE}} = -\sum_i y_i \ln \hat y_i .$$

    Where the network is confidently wrong the softmax saturates: MSE's surface is flat
    there (tiny gradient, training is stuck), while cross-entropy keeps a slope.
    """,
    claims=(
        (
            "two_class_softmax",
            r"""
            ## Two classes: softmax is the sigmoid

            With two classes, $\hat y_1 = e^{z_1}/(e^{z_0} + e^{z_1}) = \sigma(z_1 - z_0)$, so
            softmax cross-entropy on two logits is binary cross-entropy on their difference.
            """,
        ),
        (
            "error_surfaces",
            """
            ## The two error surfaces

            Three classes, the third logit pinned far below, so only $(z_1, z_2)$ matter; the
            target is class 1 and the start is confidently wrong.
            """,
        ),
        (
            "training",
            """
            ## Training a network from a confidently wrong start

            The head's weights start at zero and its bias predicts one class with certainty:
            every other digit starts on the plateau.
            """,
        ),
    ),
    exercises="""
    ## Exercise

    1. Start the surface experiment at z = (0, 0) instead. Is MSE still stuck?
    2. Train the same network from an ordinary initialization (no poor bias) with both
       losses. How large is the difference now?
    3. Repeat `training` with `jaxtrain.losses.mse` after a softmax and a learning rate ten
       times larger. Does a larger step get MSE off the plateau?
    """,
)

BATCH_NORMALIZATION = Notebook(
    section="batch_normalization",
    title="6. Batch normalization",
    intro="""\
    When features live on different scales the error surface is steep in some directions and
    flat in others. Batch normalization standardizes every feature over the batch.
    """,
    idea=r"""
    ## The idea

    For a batch $z^1, \dots, z^B$ of a layer's features:

    $$\mu = \frac1B \sum_b z^b, \quad \sigma = \sqrt{\frac1B \sum_b (z^b - \mu)^2}, \quad
    \tilde z^b = \frac{z^b - \mu}{\sigma}, \quad \hat z^b = \gamma \odot \tilde z^b + \beta .$$

    At test time there may be no batch: BatchNorm uses running averages collected in
    training, $\bar\mu \leftarrow p\,\bar\mu + (1-p)\,\mu$ (`momentum` = p).
    """,
    claims=(
        (
            "with_and_without",
            """
            ## With and without BatchNorm

            A deep sigmoid MLP on digits, trained with plain SGD at one learning rate, once
            without normalization and once with `jaxtrain.nn.BatchNorm` after every hidden layer.
            """,
        ),
        (
            "statistics_at_test_time",
            """
            ## Test time: one example at a time

            The trained BatchNorm network, tested with running and with batch statistics, on
            the whole validation set at once and one example at a time.
            """,
        ),
    ),
    exercises="""
    ## Exercise

    1. Train with Flax's default `momentum=0.99` for a single epoch. Why are the running
       statistics then still poor?
    2. Replace BatchNorm by `"layer"` normalization: does a batch of one still fail?
    3. Try a learning rate 10 times larger with and without BatchNorm.
    """,
)

NOTEBOOKS = {
    "01_task_strategy": TASK_STRATEGY,
    "02_critical_points": CRITICAL_POINTS,
    "03_batch_and_momentum": BATCH_AND_MOMENTUM,
    "04_adaptive_learning_rate": ADAPTIVE_LEARNING_RATE,
    "05_loss_functions": LOSS_FUNCTIONS,
    "06_batch_normalization": BATCH_NORMALIZATION,
}


def build_notebook(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` (a key of :data:`NOTEBOOKS`), without outputs."""
    notebook = NOTEBOOKS[name]
    intro = textwrap.dedent(notebook.intro).strip()
    header = md(f"# {notebook.title}\n\n{_badge(name)}\n\n{intro}")
    nb = nbformat.v4.new_notebook()
    nb.cells = [header, code(INSTALL), code(SETUP), *notebook.cells()]
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
