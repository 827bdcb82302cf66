"""Momentum, adaptive learning rates and schedules (lecture §3–§4) as optax transformations.

Every factory returns an ``optax.GradientTransformation`` whose state is a NamedTuple, so
jaxtrain's pieces go inside ``optax.chain``, ``optax.inject_hyperparams``,
``optax.MultiSteps`` and ``optax.masked``, and optax's pieces go inside jaxtrain's. Defaults
and numerics are optax's (the tests compare every optimizer with optax's after 100 steps).

- Building blocks: :func:`scale_by_momentum`, :func:`scale_by_adagrad` (root-sum-square σ),
  :func:`scale_by_root_mean_square_history` (the lecture's root-mean-square σ),
  :func:`scale_by_rms`, :func:`scale_by_adam`, :func:`scale_by_radam`,
  :func:`scale_by_learning_rate`, :func:`add_decayed_weights`, :func:`clip_by_global_norm`,
  :func:`skip_nonfinite`.
- Optimizers: :func:`sgd`, :func:`adagrad`, :func:`rmsprop`, :func:`adam`, :func:`adamw`,
  :func:`radam`, each taking a number or a schedule (:mod:`jaxtrain.optim.schedules`).
- Escaping saddle points (lecture §2), taking the loss as an extra argument of ``update``:
  :func:`negative_curvature_descent`, :func:`perturbed_gd`, :func:`saddle_free_newton`.
- Introspection: :func:`learning_rate_from_state`, :func:`step_count_from_state`,
  :func:`learning_rate_at`, :func:`effective_step_size` (the per-parameter η/σ), and
  :func:`optimize_trajectory` for the lecture's pictures of optimizer paths.

The step count and the learning rate used last live in :class:`ScaleByLearningRateState`,
the state of the final :func:`scale_by_learning_rate` of every optimizer, which is how the
training loop logs η inside ``jit``.
"""

from jaxtrain.optim import schedules
from jaxtrain.optim._adagrad import (
    ScaleByAdagradState,
    ScaleByRootMeanSquareHistoryState,
    scale_by_adagrad,
    scale_by_root_mean_square_history,
)
from jaxtrain.optim._adam import ScaleByAdamState, ScaleByRAdamState, scale_by_adam, scale_by_radam
from jaxtrain.optim._aliases import adagrad, adam, adamw, radam, rmsprop, sgd
from jaxtrain.optim._clipping import clip_by_global_norm
from jaxtrain.optim._effective_step import effective_step_size
from jaxtrain.optim._learning_rate import (
    ScaleByLearningRateState,
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
from jaxtrain.optim._perturbed_gd import PerturbedGDState, perturbed_gd
from jaxtrain.optim._rmsprop import ScaleByRmsState, scale_by_rms
from jaxtrain.optim._saddle_free_newton import SaddleFreeNewtonState, saddle_free_newton
from jaxtrain.optim._trajectory import optimize_trajectory
from jaxtrain.optim._weight_decay import AddDecayedWeightsState, add_decayed_weights

__all__ = [
    "AddDecayedWeightsState",
    "NegativeCurvatureDescentState",
    "PerturbedGDState",
    "SaddleFreeNewtonState",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByLearningRateState",
    "ScaleByMomentumState",
    "ScaleByRAdamState",
    "ScaleByRmsState",
    "ScaleByRootMeanSquareHistoryState",
    "SkipNonfiniteState",
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
