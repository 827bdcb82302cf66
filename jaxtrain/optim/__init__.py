"""Momentum, adaptive learning rates and schedules (lecture §3–§4) as optax transformations.

A drop-in for optax's optimizers: every factory returns an ``optax.GradientTransformation``
with optax's signature, defaults and numerics (complex parameters included: σ² averages
|g|² = g·conj(g)), and its state is made of optax's own state classes with the same tree
structure as optax's optimizer of the same name, so states move between the two libraries
(checkpoints included) and ``optax.tree.get(state, "count")`` works. jaxtrain's pieces go
inside ``optax.chain``, ``optax.inject_hyperparams``, ``optax.MultiSteps`` and
``optax.masked``, and optax's pieces go inside jaxtrain's. What jaxtrain adds: it refuses
bad hyperparameters (a negative or NaN η, β outside [0, 1)...) with a one-line error, and
reads η and η/σ back for its lectures and monitors.

- Building blocks: :func:`scale_by_momentum` (``optax.trace``), :func:`scale_by_adagrad`
  (root-sum-square σ, ``optax.scale_by_rss``), :func:`scale_by_root_mean_square_history`
  (the lecture's root-mean-square σ), :func:`scale_by_rms`, :func:`scale_by_adam`,
  :func:`scale_by_radam`, :func:`scale_by_learning_rate`, :func:`add_decayed_weights`,
  :func:`clip_by_global_norm`, :func:`skip_nonfinite`.
- Optimizers: :func:`sgd`, :func:`adagrad`, :func:`rmsprop`, :func:`adam`, :func:`adamw`,
  :func:`radam`, each taking a number or a schedule (:mod:`jaxtrain.optim.schedules`).
- Escaping saddle points (lecture §2), taking the loss as an extra argument of ``update``:
  :func:`negative_curvature_descent`, :func:`perturbed_gd` (its hyperparameters by Jin et al.'s
  rule: :func:`perturbed_gd_hyperparameters`), :func:`saddle_free_newton`. Their counts size
  compiled loops: under ``optax.inject_hyperparams`` name them in ``static_args``
  (``escape_steps``; ``num_iters`` or ``k``, and ``max_halvings``).
- Introspection: :func:`learning_rate_from_state`, :func:`step_count_from_state`,
  :func:`learning_rate_at`, :func:`effective_step_size` (the per-parameter η/σ), and
  :func:`optimize_trajectory` for the lecture's pictures of optimizer paths.

As in optax, the state keeps no hyperparameters: η (a constant, or a schedule at the state's
step count) and ε, β₂ are read from the optimizer's closures, so
:func:`learning_rate_from_state` and :func:`effective_step_size` take the optimizer (or an
``optax.inject_hyperparams`` state). The training loop does this inside ``jit`` to log η.
"""

from jaxtrain.optim import schedules
from jaxtrain.optim._adagrad import (
    ScaleByAdagradState,
    ScaleByRootMeanSquareHistoryState,
    scale_by_adagrad,
    scale_by_root_mean_square_history,
)
from jaxtrain.optim._adam import ScaleByAdamState, scale_by_adam, scale_by_radam
from jaxtrain.optim._aliases import adagrad, adam, adamw, radam, rmsprop, sgd
from jaxtrain.optim._clipping import clip_by_global_norm
from jaxtrain.optim._effective_step import effective_step_size
from jaxtrain.optim._learning_rate import (
    learning_rate_at,
    learning_rate_from_state,
    scale_by_learning_rate,
    step_count_from_state,
)
from jaxtrain.optim._momentum import ScaleByMomentumState, scale_by_momentum
from jaxtrain.optim._negative_curvature import (
    NegativeCurvatureDescentState,
    negative_curvature_descent,
)
from jaxtrain.optim._nonfinite import SkipNonfiniteState, skip_nonfinite
from jaxtrain.optim._perturbed_gd import (
    PerturbedGDState,
    perturbed_gd,
    perturbed_gd_hyperparameters,
)
from jaxtrain.optim._rmsprop import (
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    ScaleByRStdDevState,
    ScaleByRStdDevWithCountState,
    scale_by_rms,
)
from jaxtrain.optim._saddle_free_newton import SaddleFreeNewtonState, saddle_free_newton
from jaxtrain.optim._trajectory import optimize_trajectory
from jaxtrain.optim._weight_decay import (
    AddDecayedWeightsState,
    WeightDecayScheduleState,
    add_decayed_weights,
)

__all__ = [
    "AddDecayedWeightsState",
    "NegativeCurvatureDescentState",
    "PerturbedGDState",
    "SaddleFreeNewtonState",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByMomentumState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRootMeanSquareHistoryState",
    "SkipNonfiniteState",
    "WeightDecayScheduleState",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "clip_by_global_norm",
    "effective_step_size",
    "learning_rate_at",
    "learning_rate_from_state",
    "negative_curvature_descent",
    "optimize_trajectory",
    "perturbed_gd",
    "perturbed_gd_hyperparameters",
    "radam",
    "rmsprop",
    "saddle_free_newton",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_momentum",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_root_mean_square_history",
    "schedules",
    "sgd",
    "skip_nonfinite",
    "step_count_from_state",
]
