"""Builds the six lecture notebooks from the Python source below.

The notebooks are generated, not hand-edited, so a change reads as a normal diff of this file
and the committed ``.ipynb`` files never carry outputs. Run from anywhere:

    python notebooks/build.py            # rewrite notebooks/*.ipynb
    python notebooks/build.py --check    # exit 1 if a committed notebook is out of date

Each notebook: an "Open in Colab" badge; one parameters cell (``QUICK``, the small-size switch
that CI sets through ``JAXTRAIN_QUICK=1``, and ``SEED``); an install cell that adds jaxtrain
from the repository *without* touching the preinstalled jax (a Colab TPU keeps its matching
libtpu); a setup cell; then the idea with its formula and the section's claims, each followed
by what you should see and the numbers behind it; and exercises with collapsible solutions.
Every claim is an experiment of ``jaxtrain.lecture``, the same function the tour and the
examples run: the notebook shows its figure and caption and links to its code; no experiment
is written here.

The repository the badges open and the install cell installs from is :data:`REPOSITORY`, the
one setting to change for a fork.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import textwrap

import nbformat

HERE = pathlib.Path(__file__).resolve().parent

REPOSITORY = "https://github.com/jaxtrain/jaxtrain"
"""The GitHub repository of jaxtrain: the Colab badges, the install cell and the code links."""

_GITHUB = "https://github.com/"
if not REPOSITORY.startswith(_GITHUB) or REPOSITORY.endswith("/"):
    raise ValueError(f"REPOSITORY must be https://github.com/OWNER/NAME, got {REPOSITORY!r}")
SOURCE = f"{REPOSITORY}/blob/main/jaxtrain/lecture"

PARAMETERS = """\
# Parameters: change them here, then run all the cells again.
import os

# True: every experiment at its small size, in seconds (CI sets JAXTRAIN_QUICK=1); False: the
# lecture's full size, which takes minutes on a CPU.
QUICK = os.environ.get("JAXTRAIN_QUICK", "0") == "1"
# The random seed of every experiment: another seed, other initializations, batches and data.
SEED = 0
"""

INSTALL = """\
# Colab (TPU, GPU or CPU): install jaxtrain from the repository WITHOUT upgrading jax, so the
# runtime keeps the jax/jaxlib (and, on a TPU, the libtpu) it came with. Skipped when jaxtrain
# is already importable (a local checkout, CI).
import importlib
import importlib.util

if importlib.util.find_spec("jaxtrain") is None:
    %pip install --quiet --no-deps "jaxtrain @ git+@REPOSITORY@"
    # Only the dependencies this runtime lacks, pinned to the jax it already has.
    import pathlib, jax, jaxlib
    wanted = {"chex": "chex", "optax": "optax", "flax": "flax", "orbax": "orbax-checkpoint",
              "tqdm": "tqdm", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}
    missing = " ".join(pip for module, pip in wanted.items() if importlib.util.find_spec(module) is None)
    if missing:
        pathlib.Path("keep-jax.txt").write_text(f"jax=={jax.__version__}\\njaxlib=={jaxlib.__version__}\\n")
        %pip install --quiet -c keep-jax.txt {missing}
    importlib.invalidate_caches()
""".replace("@REPOSITORY@", REPOSITORY)

SETUP = """\
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxtrain
from jaxtrain import lecture

# Every experiment takes this configuration: the quick size or the lecture's full size.
config = lecture.LectureConfig(quick=QUICK)
print(f"jaxtrain {jaxtrain.__version__}, jax {jax.__version__}, QUICK = {QUICK}, SEED = {SEED}")
print("devices:", jax.devices())
"""


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell from an indented block of text."""
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    """A code cell from an indented block of source."""
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))


def colab_url(name: str) -> str:
    """The address that opens notebook ``name`` of :data:`REPOSITORY` in Colab."""
    path = REPOSITORY.removeprefix(_GITHUB)
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{name}.ipynb"


def _badge(name: str) -> str:
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    return f"[![Open In Colab]({badge})]({colab_url(name)})"


@dataclasses.dataclass(frozen=True)
class Shown:
    """One claim in a notebook: the prose before its figure and what to see after it.

    Attributes:
      experiment: the experiment's name in the section's module.
      text: markdown before the figure (a heading and what it measures).
      see: markdown after it: what the figure should show, the invariant its test checks.
      numbers: paths into ``claim.numbers`` printed after it (``Claim.numbers_text``).
    """

    experiment: str
    text: str
    see: str
    numbers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Exercise:
    """A question and its solution, shown collapsed under the question."""

    question: str
    solution: str

    def markdown(self, number: int) -> str:
        question = textwrap.dedent(self.question).strip()
        solution = textwrap.dedent(self.solution).strip()
        # Blank lines around the solution let Jupyter and Colab render its markdown and code
        # inside the HTML element.
        return (
            f"**{number}.** {question}\n\n<details><summary>Solution</summary>\n\n{solution}"
            "\n\n</details>"
        )


def _print_numbers(paths: tuple[str, ...]) -> str:
    """The cell that prints a claim's numbers at ``paths``, one path a line when long."""
    quoted = [f'"{path}"' for path in paths]
    one_line = f"print(claim.numbers_text({', '.join(quoted)}))"
    if len(one_line) <= 100:
        return one_line
    return (
        "print(\n    claim.numbers_text(\n"
        + "".join(f"        {q},\n" for q in quoted)
        + "    )\n)"
    )


@dataclasses.dataclass(frozen=True)
class Notebook:
    """One lecture section as a notebook: prose around the section's claims."""

    section: str
    title: str
    intro: str
    idea: str
    shown: tuple[Shown, ...]
    exercises: tuple[Exercise, ...]

    def cells(self) -> list[nbformat.NotebookNode]:
        cells = [md(self.idea)]
        for item in self.shown:
            link = f"[`lecture.{self.section}.{item.experiment}`]({SOURCE}/{self.section}.py)"
            cells.append(md(f"{textwrap.dedent(item.text).strip()}\n\nThe code: {link}."))
            call = f"lecture.{self.section}.{item.experiment}(config, seed=SEED)"
            cells.append(code(f"claim = {call}\nclaim"))
            cells.append(md(f"**What you should see.** {textwrap.dedent(item.see).strip()}"))
            cells.append(code(_print_numbers(item.numbers)))
        heading = "## Exercises\n\nTry each one before you open its solution.\n\n"
        for number, exercise in enumerate(self.exercises, 1):
            cells.append(md((heading if number == 1 else "") + exercise.markdown(number)))
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
    shown=(
        Shown(
            "model_bias",
            """
            ## Model bias: the model family is too simple

            A linear model cannot separate three interleaved spirals, however well it is
            trained; a network with one hidden layer can. `jaxtrain.diagnose` compares the two.
            """,
            """
            The case is built for model bias. Compare each training curve with the dotted
            'large' threshold: the lecture expects the linear model to stay near the baseline
            B, above it, and the MLP to fall below it with the same budget. The title and the
            caption give the verdict reached here; `model_bias` means the cure is a more
            flexible model, not more training.
            """,
            ("verdict", "train_loss_over_baseline", "large_train_loss"),
        ),
        Shown(
            "deep_vs_shallow",
            """
            ## Optimization issue: a deep plain network vs a shallow one

            He et al. (2016) saw a 56-layer plain network train *worse* than a 20-layer one.
            `diagnose` trains every candidate with the same budget and seeds; here a shallow
            and a deep plain sigmoid MLP.
            """,
            """
            The case is built for an optimization issue. The deep net could represent the
            shallow net's function, so if its *training* loss ends above the shallow one's,
            gradient descent missed a good θ: verdict `optimization`, not overfitting and not
            model bias. Compare the two training curves; the caption says which net trained
            better here and gives the verdict.
            """,
            ("verdict", "train_loss_over_baseline"),
        ),
        Shown(
            "what_went_wrong",
            """
            ## What went wrong in *this* run?

            `jaxtrain.diagnose.explain_run` watches one run from inside its compiled steps
            (sharpness against 2/η, gradient noise, update sizes) and ranks the lecture's
            causes by the evidence.
            """,
            """
            The run is built with η far too large, so the cause to expect is
            `learning_rate_too_high`. Its evidence: the sharpness λmax against the stability
            threshold 2/η (right), and the same run repeated at a smaller η from the same
            start (dashed, left). The title and the caption name the top cause found here and
            the evidence behind it.
            """,
            ("top_cause", "top_score", "sharpness_over_threshold", "probe_gain"),
        ),
        Shown(
            "overfitting_and_mismatch",
            """
            ## Overfitting and mismatch

            Small training loss, large validation loss. A held-out split of the *training*
            distribution tells the two apart: overfitting fails on it too, mismatch does not.
            """,
            """
            Look at the middle bars, the held-out points of the training distribution. An
            overfit model fails there too; a mismatched one does well there and fails only on
            the validation set from another distribution. The spirals case is built for
            overfitting and the digits case (inverted ink) for mismatch; the panel titles and
            the caption give the verdicts reached here.
            """,
            (
                "overfitting_case_verdict",
                "overfitting_case_loss_over_baseline",
                "mismatch_case_verdict",
                "mismatch_case_loss_over_baseline",
            ),
        ),
        Shown(
            "augmentation",
            """
            ## Data augmentation

            Augmentation makes new training examples from old ones; it can only help when the
            new inputs are ones the model will meet. The figure measures two of them over
            several seeds.
            """,
            """
            The bars start at 0 and each dot is one seed. The lecture's rule predicts that
            the one-pixel shift pays off on the shifted validation digits, which contain such
            inputs, and not on the centered ones; upside down (a 6 becomes a mirror-image 9)
            makes inputs that neither set contains. The caption says, in points and seeds,
            how each augmentation did here.
            """,
            ("val_accuracy", "shifted_val_accuracy"),
        ),
        Shown(
            "model_selection",
            """
            ## Choosing a model: cross-validation

            The lecture expects a more flexible model to fit the training data better (the
            caption checks it here), so the training loss cannot choose; choosing by the test
            set would make the test score optimistic (the lecture's public and private
            leaderboards). k-fold cross-validation splits the *training* data into k folds,
            trains on k − 1 and validates on the k-th, for every fold; the model with the
            lowest mean fold loss is trained on all the training data. A large fresh test set
            checks the choice.
            """,
            """
            From left to right (more flexible) the lecture expects the training loss to fall,
            and the fold loss and the fresh test loss to fall and then rise. The red star is
            cross-validation's choice; the caption says whether the fresh test prefers the
            same model, and whether the most flexible model, best on its training points,
            overfits.
            """,
            ("choice", "test_best", "train_loss", "fold_val_loss", "test_loss"),
        ),
    ),
    exercises=(
        Exercise(
            """
            Model bias or too little training? Train `model_bias`'s linear model with the
            quick size's budget (200 Adam steps, one seed) and four times longer. Does its
            training loss over B come down?
            """,
            """
            ```python
            from jaxtrain.data import make_spirals
            from jaxtrain.diagnose import Budget, ModelSpec, diagnose

            x, y = make_spirals(600, classes=3, noise=0.05, seed=SEED)
            linear = ModelSpec("mlp", (2,), 3, depth=0)
            for steps in (200, 800):
                d = diagnose(linear, (x[:450], y[:450]), (x[450:], y[450:]),
                             budget=Budget(steps=steps, learning_rate=3e-2, seeds=[SEED]),
                             curvature=False)
                print(steps, "steps: training loss / B =",
                      d.candidate("linear").mean("train") / d.baseline)
            ```

            No: at seed 0 it is 0.962 B after 200 steps and 0.962 B after 800. The linear
            model has converged to the best its family can do; no θ of it fits the spirals,
            so only a more flexible model helps.
            """,
        ),
        Exercise(
            """
            The lecture's first remedy for overfitting is more data. Train `model_selection`'s
            most flexible model (2 hidden layers of 128), with the quick size's budget of 300
            Adam steps, on 480 spiral points instead of 120 and compare its loss on the fresh
            test points.
            """,
            """
            ```python
            from flax import nnx
            from jaxtrain.data import make_spirals
            from jaxtrain.diagnose import ModelSpec
            from jaxtrain.losses import softmax_cross_entropy
            from jaxtrain.optim import adam
            from jaxtrain.train import evaluate, fit

            test = make_spirals(2000, noise=0.2, seed=SEED + 1)
            for points in (120, 480):
                train = make_spirals(points, noise=0.2, seed=SEED)
                model = ModelSpec("mlp", (2,), 2, width=128, depth=2).build(nnx.Rngs(SEED))
                state, _ = fit(model, adam(0.01), train, loss=softmax_cross_entropy, steps=300,
                               batch_size=64, drop_last=True, seed=SEED, progress=False)
                losses = [evaluate(state, d, loss=softmax_cross_entropy)["loss"]
                          for d in (train, test)]
                print(points, "points: training loss %.3f, test loss %.3f" % tuple(losses))
            ```

            At seed 0: 120 points give training loss 0.232 and test loss 0.764; 480 points
            give 0.387 and 0.522. With four times the data the same model can no longer
            memorize its training points (its training loss rises) and its test loss falls.
            """,
        ),
        Exercise(
            """
            Does cross-validation's choice depend on k? Repeat `model_selection`'s
            cross-validation, with the quick size's budget of 300 Adam steps, with k = 5 and
            k = 10.
            """,
            """
            ```python
            from jaxtrain.data import make_spirals
            from jaxtrain.diagnose import Budget, ModelSpec, cross_validate

            train = make_spirals(120, noise=0.2, seed=SEED)
            candidates = [ModelSpec("mlp", (2,), 2, depth=0),
                          ModelSpec("mlp", (2,), 2, width=16, depth=1),
                          ModelSpec("mlp", (2,), 2, width=128, depth=2)]
            for k in (3, 5, 10):
                cv = cross_validate(candidates, train, k=k, seed=SEED,
                                    budget=Budget(steps=300, learning_rate=0.01, seeds=[SEED]))
                print(k, cv.choice, {n: round(v, 3) for n, v in cv.mean_val_loss.items()})
            ```

            At seed 0 all three choose `mlp-1x16-relu` (its mean fold loss 0.611, 0.589 and
            0.566). A larger k trains each fold on more of the data, so the fold losses are
            closer to those of the final model, at the price of k trainings per candidate.
            """,
        ),
    ),
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
    shown=(
        Shown(
            "toy_saddle",
            r"""
            ## The lecture's toy network

            $\hat y = w_1 w_2 x$ with one example $x = 1$, $\hat y = 1$ and squared error:
            $L(w_1, w_2) = (1 - w_1 w_2)^2$. At the origin the gradient is zero.
            """,
            """
            At the origin H's eigenvalues are −2 and +2: a saddle. Along the eigenvector u of
            −2 the loss falls, close to ½λt² (dashed) near t = 0; across it, it rises.
            """,
            ("eigenvalues", "escape_direction", "measured_loss_change", "predicted_loss_change"),
        ),
        Shown(
            "escaping_a_saddle",
            """
            ## The way down

            At the saddle the gradient is zero, so gradient descent does not move. A step along
            the eigenvector of the negative eigenvalue does; so does a tiny random nudge, more
            slowly. The lecture adds that escaping along the Hessian's eigenvectors is rarely
            done in practice: H has n² entries for n parameters. What training has instead is
            the noise of small batches and momentum (§3).
            """,
            """
            Started exactly at the saddle, gradient descent never moves (a flat line at L = 1).
            One step along u leaves at once; a random nudge of 10⁻³ takes longer, because
            each step multiplies only its component along u by 1 − ηλ = 1.2. The caption
            gives each run's steps to half the saddle's loss, momentum's included.
            """,
            ("steps_to_leave", "growth_per_step", "predicted_growth_per_step"),
        ),
        Shown(
            "saddle_escapes",
            """
            ## Optimizers that use the way down

            The lecture's remark is that escaping along H's eigenvectors is rarely done, since
            H has n² entries. It does not need H: Lanczos finds its most negative eigenvalue
            and eigenvector from a few Hessian-vector products, each about the cost of a
            gradient. Three optax transforms of `jaxtrain.optim` use that or a random kick:
            negative-curvature descent (a step along the eigenvector where ‖g‖ is small),
            perturbed gradient descent (Jin et al. 2017: a random kick where ‖g‖ is small)
            and saddle-free Newton (Dauphin et al. 2014: |H|⁻¹g in a small Krylov subspace).
            The two curvature methods get the loss through `update(..., obj_fn=loss)`;
            perturbed descent needs only the gradient, and accepts `obj_fn` and ignores it.
            Each runs from planted saddles until the loss halves, beside gradient descent and
            gradient descent with small noise. The quick size runs only the toy.
            """,
            """
            At an exact saddle (g = 0) gradient descent cannot move. The legend gives each
            method's steps to the grey line ('never': not within the budget). What to expect:
            the curvature methods should leave in few steps, each step costing a few
            Hessian-vector products more than a gradient (the caption's cost); random kicks
            leave too, but descent must first grow a kick along u by 1 + η|λ| per step, which
            is slow where |λ| is small. Perturbed descent kicks only where ‖g‖ is below a
            threshold set by Jin et al.'s rule: the caption counts its kicks on each case and
            says where it never kicked. It also names every case where a transform missed the
            target of a fifth of gradient descent's steps.
            """,
            ("lambda_min", "steps", "cost"),
        ),
        Shown(
            "trained_spectrum",
            """
            ## The spectrum of a trained network

            A real network has many parameters: the dense Hessian is fine for a few thousand,
            Hessian-vector products and Lanczos for more. Here a small tanh network fits a
            curve, and then its gradient norm is driven down by minimizing ½‖g‖².
            """,
            """
            Count the large eigenvalues and those near zero: a near-zero direction is flat,
            not a way down. The caption classifies the point: a negative eigenvalue means it is
            no minimum; with none negative but some near zero, the Hessian cannot prove a
            minimum, and the caption says 'degenerate'. Lanczos uses Hessian-vector products
            only: compare its extremes and minimum ratio with the dense Hessian's.
            """,
            (
                "grad_norm",
                "num_positive",
                "num_negative",
                "num_zero",
                "minimum_ratio",
                "lanczos_minimum_ratio",
            ),
        ),
        Shown(
            "minimum_ratio_vs_loss",
            """
            ## Minimum ratio against training loss

            The lecture's minimum ratio is the fraction of positive eigenvalues, taken where
            the gradient is (nearly) zero. Here many networks are stopped at different points
            of training and ½‖g‖² is minimized from there, which finds saddles as readily as
            minima; the Hessian then counts the eigenvalues of each point.
            """,
            """
            Look where the saddles (red triangles, a negative eigenvalue) sit on the loss axis
            next to the points without one (blue dots); the caption says whether every saddle
            has a higher loss. A point without a negative eigenvalue can still have a ratio far
            below 1: the right panel shows the missing share going to eigenvalues near zero
            (grey), flat directions rather than ways down. Whether the ratio rises as the loss
            falls, the lecture's trend, is what the correlation r in the caption measures: read
            its verdict there.
            """,
            ("num_critical", "num_saddles", "num_without_negative", "correlation"),
        ),
        Shown(
            "hessian_vs_gauss_newton",
            """
            ## What the Gauss–Newton matrix cannot see

            Many curvature tools report the Gauss–Newton matrix G = JᵀH_ℓJ instead of the
            Hessian: the first term of H = JᵀH_ℓJ + Σ (∂ℓ/∂ŷ)∇²ŷ, with J = ∂ŷ/∂θ. For the
            mean squared error (or cross-entropy) H_ℓ is positive semi-definite, so G has no
            negative eigenvalue. Here both are computed at the lowest-loss saddle among the
            points above (without a saddle, at the point whose Hessian has the lowest
            eigenvalue; the caption names the kind of point), G from `curvature.ggn`'s
            matrix-vector products.
            """,
            """
            Both panels plot each eigenvalue against its index, smallest first: negative ones
            lie below the zero line. G (orange squares) is positive semi-definite, so its
            eigenvalues stay at or above zero within round-off (the grey band |λ| ≤ tol), and
            any negative eigenvalue of the Hessian (blue circles) must come from H − G (green
            crosses): where H shows a way down, G shows a flat or upward direction. The
            caption counts the negative eigenvalues of H and G and gives the largest of each.
            """,
            ("num_negative", "lowest", "highest"),
        ),
    ),
    exercises=(
        Exercise(
            """
            Analyze the toy network at `(1.0, 1.0)` with
            `jaxtrain.curvature.analyze_critical_point`. Why is it "degenerate" although it
            is a global minimum?
            """,
            """
            ```python
            import jax.numpy as jnp
            from jaxtrain.curvature import analyze_critical_point

            loss = lambda w: (1.0 - w[0] * w[1]) ** 2
            report = analyze_critical_point(loss, jnp.ones(2))
            print(report.kind, report.eigenvalues, report.loss)
            for t in (0.1, 0.2, 0.4):  # along the zero eigenvalue's eigenvector (1, -1)/√2
                print(t, float(loss(jnp.array([1 + t, 1 - t]))), t**4)
            ```

            The eigenvalues are 0 and 4. The eigenvector of 0, (1, −1)/√2, is tangent to the
            valley w₁w₂ = 1 of global minima. Along the straight line (1 + t, 1 − t) the loss
            is (1 − (1 − t²))² = t⁴: a fourth-order rise, invisible to the second-order
            expansion, so the Hessian test cannot decide, although L = 0 there.
            """,
        ),
        Exercise(
            """
            Escaping by noise: start gradient descent (η = 0.1) from a random nudge of norm
            10⁻⁶ instead of 10⁻³. Predict how many more steps it needs to leave the saddle,
            then check with `jaxtrain.optim.optimize_trajectory`.
            """,
            """
            ```python
            import math
            import jax
            import jax.numpy as jnp
            import numpy as np
            from jaxtrain.optim import optimize_trajectory, sgd

            loss = lambda w: (1.0 - w[0] * w[1]) ** 2
            direction = jax.random.normal(jax.random.key(SEED), (2,))
            for size in (1e-3, 1e-6):
                start = size * direction / jnp.linalg.norm(direction)
                _, losses = optimize_trajectory(sgd(0.1), loss, start, 200)
                print(size, "steps to L < 0.5:", int(np.argmax(np.asarray(losses) < 0.5)))
            print("predicted extra steps:", math.log(1000) / math.log(1.2))
            ```

            Each step multiplies the component along u by 1 − ηλ = 1.2, so a start 1,000×
            smaller needs ln 1000/ln 1.2 ≈ 38 more steps. At seed 0: 38 steps from 10⁻³, 76
            from 10⁻⁶. Noise gets out of a saddle, but slowly when it is small.
            """,
        ),
    ),
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
    gives accurate gradients and, on parallel hardware, fast epochs; a small B gives noisy
    gradients and many more updates per epoch. The lecture argues that the noise helps:
    a different batch has a different loss $L_b$, so where one is stuck the next is not.
    The first figure separates the noise from the number of updates.

    Momentum moves by a running sum of past gradients:

    $$m^{t+1} = \lambda m^t - \eta g^t, \qquad \theta^{t+1} = \theta^t + m^{t+1}.$$
    """,
    shown=(
        Shown(
            "batch_size",
            """
            ## Small and large batches

            The same network with batches of 16 and the full batch: at equal epochs (the
            full batch then makes far fewer updates) and at equal updates.
            """,
            """
            At equal epochs batch 16 makes ~90× more updates than the full batch, so that gap
            mixes the noise with the number of updates; at equal updates only the noise
            differs. The lecture says the noise of small batches helps: the caption says how
            much of the equal-epochs gap is left at equal updates, and whether batch 16 leads
            there. The lecture also says a full-batch epoch is faster, its examples computed in
            parallel: compare the two epoch times below; the caption says which was faster
            here.
            """,
            (
                "batch_16_val_accuracy",
                "full_equal_epochs_val_accuracy",
                "full_equal_updates_val_accuracy",
                "batch_16_seconds_per_epoch",
                "full_batch_seconds_per_epoch",
            ),
        ),
        Shown(
            "critical_batch_size",
            r"""
            ## The critical batch size

            Past some batch size, a larger batch no longer saves steps. McCandlish et al.
            (2018) predict where from the gradient noise scale
            $B_\text{simple} = \operatorname{tr}(\Sigma)/\lVert G\rVert^2$, which
            `jaxtrain.monitor.gradient_noise_scale` measures inside the training steps.
            """,
            """
            McCandlish et al.'s picture: the steps to reach the target loss fall steeply from
            B = 1 and then flatten, and past the knee B_crit a larger batch saves few steps.
            Compare the measured steps with that shape; the caption gives the fitted B_crit
            and compares it with the measured noise scale B_simple.
            """,
            ("batch_size", "steps", "b_crit", "b_simple"),
        ),
        Shown(
            "momentum_ridge",
            r"""
            ## Momentum crosses a ridge

            $L(\theta) = \theta^4 - 4\theta^2 + \theta$ has a shallow valley on the right and a
            deeper one on the left.
            """,
            """
            Gradient descent stops in the right, shallow valley; momentum carries θ over the
            ridge into the deeper left one. On digits, compare momentum's final loss with plain
            SGD's at the same η and at the larger step η/(1 − λ), the step momentum takes in a
            steady direction. The caption says whether momentum ended lower in every seed, and
            whether its gain is about what the larger step gives.
            """,
            (
                "gd_final_theta",
                "momentum_final_theta",
                "digits_sgd_final_loss",
                "digits_momentum_final_loss",
                "digits_sgd_large_final_loss",
            ),
        ),
    ),
    exercises=(
        Exercise(
            """
            On the ridge, try Nesterov momentum 0.9
            (`jaxtrain.optim.sgd(0.01, momentum=0.9, nesterov=True)`) and plain momentum 0.5.
            Which cross?
            """,
            """
            ```python
            import jax.numpy as jnp
            from jaxtrain.optim import optimize_trajectory, sgd

            loss = lambda theta: theta[0] ** 4 - 4 * theta[0] ** 2 + theta[0]
            for name, opt in {"momentum 0.9": sgd(0.01, momentum=0.9),
                              "Nesterov 0.9": sgd(0.01, momentum=0.9, nesterov=True),
                              "momentum 0.5": sgd(0.01, momentum=0.5)}.items():
                path, losses = optimize_trajectory(opt, loss, jnp.array([2.5]), 150)
                print(name, float(path[-1, 0]), float(losses[-1]))
            ```

            Nesterov 0.9 crosses too (θ = −1.47, loss −5.44). Momentum 0.5 stops in the
            shallow valley like gradient descent (θ = 1.35, loss −2.62): with λ = 0.5 the
            movement built up on the way down is too small to carry θ over the ridge.
            """,
        ),
        Exercise(
            """
            Check the critical batch size fit S = S_min(1 + B_crit/B) against the steps
            measured at each batch size.
            """,
            """
            ```python
            c = lecture.batch_and_momentum.critical_batch_size(config, seed=SEED)
            n = c.numbers
            for b, steps in zip(n["batch_size"], n["steps"]):
                print(f"B = {b}: measured {steps:.0f} steps, "
                      f"fit {n['s_min'] * (1 + n['b_crit'] / b):.0f}")
            ```

            `config` is the notebook's size. At seed 0 on a CPU, the quick size (three batch
            sizes, target loss 0.2): B = 1 measured 614, fit 546; B = 16: 73 and 88;
            B = 1000: 73 and 58; B_crit ≈ 8. The full size (six batch sizes, target 0.1)
            ranges from B = 1 (2237 and 2103) to B = 1000 (438 and 383), with B_crit ≈ 4.5.
            Two parameters through a few points: a rough fit, within about 20%, whose message
            is the knee near B_crit, past which more examples per step barely save steps at
            this fixed η.
            """,
        ),
    ),
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
    shown=(
        Shown(
            "stuck_is_not_small_gradient",
            """
            ## Stuck is not a small gradient

            The loss stops falling, yet the gradient norm stays large: the parameters bounce
            across a narrow valley.
            """,
            """
            In the shaded last half, watch the loss and ‖g‖ together: the lecture's point is
            that a stalling loss need not mean a small gradient. A step of η lowers the loss by
            η‖g‖² to first order, so the caption compares each half's fall with that sum over
            its steps (a share that fell to under a third of the first half's while ‖g‖ stayed:
            steps that no longer descend at a large ‖g‖), and gives the
            measured λmax·η/2 there: at 1 or above, a step of η overshoots along the sharpest
            direction, the lecture's bouncing between the walls of a valley.
            """,
            (
                "last_half_grad_norm_median",
                "last_half_fall",
                "last_half_first_order_fall",
                "last_half_sharpness_ratio_median",
            ),
        ),
        Shown(
            "narrow_surface",
            """
            ## A narrow valley

            A loss 100 times steeper across than along: plain SGD against Adagrad, RMSProp and
            Adam from the same start.
            """,
            """
            SGD either zig-zags across (the large η) or crawls along (the small η);
            Adagrad, RMSProp and Adam end far lower. RMSProp's loss jumps once: its step
            across grew past 2/λ₂ after σ forgot the early, large gradients.
            """,
            (
                "runs/sgd_large/final_loss",
                "runs/sgd_small/final_loss",
                "runs/adagrad/final_loss",
                "runs/rmsprop/final_loss",
                "runs/adam/final_loss",
            ),
        ),
        Shown(
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
            """
            Compare the measured λmax (solid line) with the dashed 2/η, and watch the loss
            below it. Cohen et al. saw λmax rise to 2/η and hover there, λmax·η/2 ≈ 1, while
            the loss keeps falling with many small rises; the caption gives λmax·η/2 over the
            last half of each run and how often the loss rose there. The full size trains
            η = 0.1, 0.2 and 0.5 (one color each, with its 2/η dashed in that color) and adds
            Adam, whose preconditioned sharpness is compared with 38/η.
            """,
            (
                "runs/gd η=0.5/hover_median",
                "runs/gd η=0.5/loss_start",
                "runs/gd η=0.5/loss_end",
                "runs/gd η=0.5/loss_rises",
            ),
        ),
        Shown(
            "rmsprop_alpha",
            r"""
            ## RMSProp's α: how fast σ forgets

            A gradient that jumps up and then down: with a small α, σ follows within a few
            steps; with α near 1, or Adagrad's mean over all of the past, it lags.
            """,
            """
            After the jump to slope 10, α = 0.5 shrinks its step within a step or two, α = 0.99
            and Adagrad take longer. Back on the flat part α = 0.5 recovers within about a
            dozen steps; α = 0.99 and Adagrad stay far below the step they need.
            """,
            (
                "methods/RMSProp α = 0.5/steps_to_react_down",
                "methods/RMSProp α = 0.99/steps_to_react_down",
                "methods/Adagrad/steps_to_react_down",
            ),
        ),
        Shown(
            "learning_rate_decay",
            r"""
            ## Learning-rate decay

            Near the minimum the gradients shrink, σ shrinks with them and the step $\eta/\sigma$
            grows until it blows up; a decaying $\eta^t$ holds it back.
            """,
            """
            With a constant η, Adagrad's loss falls to almost 0 and then jumps up once its
            step across the valley passes 2/λ₂. With ηᵗ = η/√(t+1) that step stays below
            2/λ₂ and the loss never jumps.
            """,
            (
                "blow_up/spike_step",
                "blow_up/peak_step_size",
                "decayed_max_step_size",
                "decayed_spikes",
            ),
        ),
        Shown(
            "schedules",
            """
            ## Learning-rate schedules

            The schedules of `jaxtrain.optim.schedules`, step by step.
            """,
            """
            The decay schedules fall from η. Warmup + cosine decay rises from 0 to η over the
            first 100 steps, then decays; the Transformer's schedule rises from 0.01·η to η
            over the same steps, then falls as 1/√t.
            """,
            ("warmup_steps", "marks", "schedules/cosine decay/at_marks"),
        ),
        Shown(
            "warmup",
            """
            ## Warmup on a real network

            Adam at a high learning rate, with and without warmup, on digits. Watch the first
            steps.
            """,
            """
            Watch the shaded first steps. Without warmup, Adam's first steps at the full η
            rest on a σ of a handful of gradients, and the lecture expects the loss to spike
            above the first loss; warmup should lower that spike. The middle panel gives each
            seed's largest early loss over the first; the caption says whether warmup lowered
            it in every seed, and counts the seeds where warmup ended with a lower training
            loss. The full size adds RAdam without warmup, which rectifies σ's variance
            instead of warming up.
            """,
            (
                "runs/none/early_spike",
                "runs/warmup/early_spike",
                "runs/none/final_train_loss",
                "runs/warmup/final_train_loss",
            ),
        ),
        Shown(
            "momentum_and_sigma",
            r"""
            ## Momentum and σ do not cancel

            $m$ sums the gradients with their signs, $\sigma$ their sizes: for a gradient that
            keeps its direction the two agree, for one that bounces $m$ nearly cancels.
            """,
            """
            |m̂/σ̂| is 1 for the steady gradient and about (1 − β₁)/(1 + β₁) = 0.053 for the
            bouncing one, so Adam's step for the bouncing parameter is ~19× smaller; RMSProp,
            σ alone, steps both by η.
            """,
            (
                "m_over_sigma_last",
                "theory_bouncing",
                "methods/Adam (m and σ)/last_step",
                "methods/RMSProp (σ only)/last_step",
            ),
        ),
    ),
    exercises=(
        Exercise(
            """
            Give SGD momentum 0.9 on the narrow valley L = ½(0.02 w₁² + 2 w₂²) from (−9, 1.5),
            100 steps. Does it catch up with Adam's 7.9 · 10⁻⁵ of `narrow_surface`?
            """,
            """
            ```python
            import jax.numpy as jnp
            from jaxtrain.optim import optimize_trajectory, sgd

            valley = lambda w: 0.5 * (0.02 * w[0] ** 2 + 2.0 * w[1] ** 2)
            start = jnp.array([-9.0, 1.5])
            for name, opt in {"SGD η = 0.9": sgd(0.9),
                              "SGD η = 0.9, momentum 0.9": sgd(0.9, momentum=0.9),
                              "SGD η = 0.2, momentum 0.9": sgd(0.2, momentum=0.9)}.items():
                _, losses = optimize_trajectory(opt, valley, start, 100)
                print(name, float(losses[-1]))
            ```

            Yes: with momentum 0.9 SGD ends at 2.7 · 10⁻⁵ (η = 0.9) and 1.2 · 10⁻⁴ (η = 0.2),
            against 0.021 without. Along the flat w₁ the gradients keep their sign and m
            builds up a step about 1/(1 − λ) = 10× larger; across the valley they alternate
            and partly cancel in m. Momentum is the other cure for a narrow valley.
            """,
        ),
        Exercise(
            """
            In `rmsprop_alpha`, how many steps does RMSProp with α = 0.9 need after each jump?
            Use `jaxtrain.optim.effective_step_size(opt, state)` to read η/σ.
            """,
            """
            ```python
            import jax.numpy as jnp
            import numpy as np
            from jaxtrain.optim import effective_step_size, rmsprop

            slopes = np.concatenate([np.full(60, 0.1), np.full(30, 10.0), np.full(90, 0.1)])
            for decay in (0.5, 0.9, 0.99):
                opt = rmsprop(0.1, decay=decay, bias_correction=True)  # as in rmsprop_alpha
                state = opt.init(jnp.zeros(1))
                sizes = []
                for g in slopes.astype(np.float32):
                    _, state = opt.update(jnp.array([g]), state)
                    sizes.append(float(effective_step_size(opt, state)[0]))
                # within 2x of the step η/|g| the slope needs, counting the jump's step as 1
                within = np.abs(np.log(np.array(sizes) / (0.1 / slopes))) <= np.log(2)
                up = int(np.argmax(within[60:90])) + 1
                down = int(np.argmax(within[90:])) + 1 if within[90:].any() else None
                print(f"alpha = {decay}: {up} steps after the jump up, {down} after the jump down")
            ```

            α = 0.9: 3 steps up and 77 down, between α = 0.5 (1 and 12) and α = 0.99 (14, and
            not within 90 steps down). σ² keeps a share α of its past per step: after the
            jump down, the steep part's g² = 100 must fade to about 4× the flat part's 0.01
            (σ within 2× of |g|), αᵗ ≈ 4 · 10⁻⁴, which takes t ≈ ln 2500/(−ln α) steps: 11 for
            α = 0.5, 74 for α = 0.9, 778 for α = 0.99.
            """,
        ),
    ),
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

    Per example, with the sum over the classes $i$ (a batch then takes the mean over its
    examples):

    $$\hat y_i = \frac{e^{z_i}}{\sum_j e^{z_j}}, \qquad
    e_{\text{MSE}} = \sum_i (y_i - \hat y_i)^2, \qquad
    e_{\text{CE}} = -\sum_i y_i \ln \hat y_i .$$

    Where the network is confidently wrong the softmax saturates: MSE's surface is flat
    there (tiny gradient, training is stuck), while cross-entropy keeps a slope.
    """,
    shown=(
        Shown(
            "two_class_softmax",
            r"""
            ## Two classes: softmax is the sigmoid

            With two classes, $\hat y_1 = e^{z_1}/(e^{z_0} + e^{z_1}) = \sigma(z_1 - z_0)$, so
            softmax cross-entropy on two logits is binary cross-entropy on their difference.
            """,
            """
            The softmax curves for every z₀ lie on the sigmoid of z₁ − z₀; the caption says
            whether the largest differences over 2,000 random pairs stay within its float32
            tolerance.
            """,
            (
                "probability_max_difference",
                "loss_max_relative_difference",
                "gradient_max_difference",
            ),
        ),
        Shown(
            "error_surfaces",
            """
            ## The two error surfaces

            Three classes, the third logit pinned far below, so only $(z_1, z_2)$ matter; the
            target is class 1 and the start is confidently wrong.
            """,
            """
            Around the start (red) MSE's surface is flat and its descent does not move; the
            cross-entropy surface slopes toward the target and its loss falls.
            """,
            ("mse_grad_norm_at_start", "ce_grad_norm_at_start", "mse_loss_after", "ce_loss_after"),
        ),
        Shown(
            "training",
            """
            ## Training a network from a confidently wrong start

            The head's weights start at zero and its bias predicts one class with certainty:
            every other digit starts on the plateau.
            """,
            """
            MSE's gradient at the start is many orders of magnitude smaller than
            cross-entropy's; the caption says whether MSE's training accuracy left 0.10 (every
            digit called a 9) and whether cross-entropy's climbed.
            """,
            (
                "mse_grad_norm_at_start",
                "ce_grad_norm_at_start",
                "mse_train_accuracy",
                "ce_train_accuracy",
            ),
        ),
    ),
    exercises=(
        Exercise(
            """
            Start the surface experiment at z = (0, 0) instead of (−10, 10). Is MSE still
            flat there?
            """,
            """
            ```python
            import jax
            import jax.numpy as jnp
            from jaxtrain.losses import mse, softmax_cross_entropy

            def logits(z):
                return jnp.stack([z[0], z[1], jnp.asarray(-1000.0)])[None]

            target = jnp.array([0])
            losses = {
                "MSE after softmax":
                    lambda z: mse(jax.nn.softmax(logits(z)), target, reduction="none").sum(),
                "cross-entropy": lambda z: softmax_cross_entropy(logits(z), target),
            }
            for start in ((-10.0, 10.0), (0.0, 0.0)):
                for name, loss in losses.items():
                    print(start, name, float(jnp.linalg.norm(jax.grad(loss)(jnp.array(start)))))
            ```

            No: at (0, 0) both gradients have norm 0.707. MSE's plateau is where the softmax
            saturates (one ŷᵢ near 1), so a confidently wrong start is what gets it stuck.
            """,
        ),
        Exercise(
            """
            Can a larger step get MSE off its plateau? Run 200 gradient steps on the logits
            from (−10, 10) with η = 10⁴ and η = 10⁸.
            """,
            """
            ```python
            import jax
            import jax.numpy as jnp
            from jaxtrain.losses import mse
            from jaxtrain.optim import optimize_trajectory, sgd

            def loss(z):
                logits = jnp.stack([z[0], z[1], jnp.asarray(-1000.0)])[None]
                return mse(jax.nn.softmax(logits), jnp.array([0]), reduction="none").sum()

            for eta in (1.0, 1e4, 1e8):
                path, losses = optimize_trajectory(sgd(eta), loss, jnp.array([-10.0, 10.0]), 200)
                print(eta, float(losses[-1]), path[-1])
            ```

            η = 10⁴ moves z₁ by only 0.017 and the loss stays at 2; only η = 10⁸ gets off the
            plateau, and it throws the logits to about ±370. The gradient is ~10⁸× too small,
            so no single step size suits the plateau and the region after it: the cure is the
            loss, not the step.
            """,
        ),
    ),
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
    shown=(
        Shown(
            "input_scales",
            r"""
            ## Inputs on different scales

            The lecture's two-weight model $\hat y = w_1 x_1 + w_2 x_2$ with $x_1 \in [0, 1]$
            and $x_2 \in [0, 100]$: a change of $w_2$ moves the loss 100× more than the same
            change of $w_1$. Its Hessian's eigenvalues measure this, and their ratio
            $\kappa = \lambda_{\max}/\lambda_{\min}$, the condition number, says how many
            steps gradient descent needs.
            """,
            """
            With the raw inputs the contours are long and thin (steep along w₂, flat along w₁)
            and κ is large. Both runs use η = 1/λmax of their surface, half the 2/λmax above
            which descent diverges; each step keeps 1 − 1/κ of the error along the flat
            direction, nearly all of it on the raw inputs. Standardizing should make the
            contours round and κ near 1, so the same rule suits both directions. Compare the
            two descents (right); the caption gives both κ and the share of the excess loss
            each run leaves.
            """,
            (
                "raw/eigenvalues",
                "raw/condition_number",
                "standardized/eigenvalues",
                "standardized/condition_number",
                "raw/excess_left",
                "standardized/excess_left",
            ),
        ),
        Shown(
            "with_and_without",
            """
            ## With and without BatchNorm

            A deep sigmoid MLP on digits, trained with plain SGD at one learning rate, once
            without normalization and once with `jaxtrain.nn.BatchNorm` after every hidden layer.
            """,
            """
            Compare both training losses with ln 10 ≈ 2.30, the loss of giving every class
            1/10, and both validation accuracies with chance, 0.10. The caption says which run
            ends with the lower training loss and by how much, and says so where the plain
            network never gets clear of ln 10. Such a run can show *that* BatchNorm helps, not
            why: the next figure measures the lecture's reason.
            """,
            (
                "plain_train_loss",
                "bn_train_loss",
                "plain_final_val_accuracy",
                "bn_final_val_accuracy",
            ),
        ),
        Shown(
            "network_curvature",
            """
            ## The Hessian of a network, with and without BatchNorm

            The lecture's reason: with every layer's features normalized, the curvatures of
            the error surface are more alike, so one learning rate suits more directions. A
            narrower copy of the same network at initialization, with and without BatchNorm:
            its dense Hessian's eigenvalues, for one seed at the quick size and three at the
            full size.
            """,
            """
            The left panel sorts the first seed's eigenvalues, largest first, relative to
            λmax. The lecture's reason predicts that with BatchNorm the curve stays near λmax
            longer: a larger share of the directions has a curvature within 100× of λmax (the
            dashed line), where a step sized for λmax still makes progress. The right panel
            gives that share for every seed; the caption says whether BatchNorm raised it in
            each. λmax/λmin is no measure here (a network's Hessian has negative and near-zero
            eigenvalues); the caption gives the condition number of the positive part, and
            says when float32's resolution sets it.
            """,
            (
                "plain/share_near_top",
                "bn/share_near_top",
                "plain/positive_condition_number",
                "bn/positive_condition_number",
            ),
        ),
        Shown(
            "statistics_at_test_time",
            """
            ## Test time: one example at a time

            The trained BatchNorm network, tested with running and with batch statistics, on
            the whole validation set at once and one example at a time.
            """,
            """
            With batch statistics a batch of one normalizes every feature to 0, so the
            prediction ignores the input: every example gets the same class, and the accuracy
            is that class's share of the validation set, about 0.1. The running statistics do
            not depend on the batch, so testing needs the same accuracy for the whole set and
            one example at a time: compare the two running-statistics bars; the caption says
            whether they agree here.
            """,
            ("accuracy",),
        ),
    ),
    exercises=(
        Exercise(
            """
            In `input_scales`, how many steps would gradient descent at η = 1/λmax need on the
            raw inputs to remove 99% of the error along the flat axis? And on the standardized
            inputs?
            """,
            """
            Each step keeps 1 − ηλmin = 1 − 1/κ of that error, so t steps keep (1 − 1/κ)ᵗ;
            0.01 of it is left after t = ln 100/(−ln(1 − 1/κ)) ≈ κ ln 100 steps.

            ```python
            import math

            c = lecture.batch_normalization.input_scales(config, seed=SEED)
            for key in ("raw", "standardized"):
                kappa = c.numbers[key]["condition_number"]
                print(key, f"κ = {kappa:.4g}:", math.log(100) / -math.log1p(-1 / kappa), "steps")
            ```

            At seed 0: κ = 20,264 needs about 93,000 steps; κ = 1.29 about 3.
            """,
        ),
        Exercise(
            """
            Replace BatchNorm by LayerNorm (`norm="layer"` in `jaxtrain.nn.MLP`): does a batch
            of one still fail?
            """,
            """
            ```python
            import jax
            import numpy as np
            from flax import nnx
            from jaxtrain.data import load_digits
            from jaxtrain.nn import MLP, functional

            x, _ = load_digits()
            for norm in ("batch", "layer"):
                model = MLP(64, 64, 10, depth=4, activation="sigmoid", norm=norm,
                            rngs=nnx.Rngs(SEED))
                apply, params, state = functional(model)
                whole = apply(params, state, x, train=True)[0]
                one = jax.vmap(lambda xi: apply(params, state, xi[None], train=True)[0][0])(x)
                print(norm, "largest difference:", float(np.abs(whole - one).max()))
            ```

            No: LayerNorm normalizes each example over its own features, so its output does
            not depend on the rest of the batch (largest difference 0), where BatchNorm in
            training mode changes the outputs (by up to 0.82 at seed 0).
            """,
        ),
        Exercise(
            """
            Train the BatchNorm MLP for a single epoch with Flax's default running momentum
            p = 0.99 and with 0.9. Why are the running statistics of the first still poor?
            """,
            """
            ```python
            import functools
            from flax import nnx
            from jaxtrain.data import load_digits, train_val_test_split
            from jaxtrain.losses import accuracy, softmax_cross_entropy
            from jaxtrain.nn import MLP, BatchNorm
            from jaxtrain.optim import sgd
            from jaxtrain.train import evaluate, fit

            splits = train_val_test_split(*load_digits(), val_fraction=0.2, seed=SEED)
            for p in (0.9, 0.99):
                model = MLP(64, 64, 10, depth=4, activation="sigmoid",
                            norm=functools.partial(BatchNorm, momentum=p), rngs=nnx.Rngs(SEED))
                state, _ = fit(model, sgd(0.5), splits.train, loss=softmax_cross_entropy,
                               epochs=1, batch_size=64, drop_last=True, progress=False)
                scores = evaluate(state, splits.val, loss=softmax_cross_entropy,
                                  metrics=[accuracy])
                print(p, scores["accuracy"])
            ```

            One epoch is 22 updates. p = 0.99 keeps 0.99²² ≈ 80% of the initial running
            values (μ̄ = 0, σ̄² = 1), which the features never had, so testing with them gives
            about chance (0.10 at seed 0); p = 0.9 keeps 0.9²² ≈ 10% of them and reaches 0.40.
            """,
        ),
    ),
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
    nb.cells = [header, code(PARAMETERS), code(INSTALL), code(SETUP), *notebook.cells()]
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
