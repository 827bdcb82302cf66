"""Learning-rate schedules η(t) for lecture §4: warmup, decay and their joins.

A schedule is a function ``count -> η`` of the (possibly traced, int32) step count, so it can
be passed as ``learning_rate`` to every :mod:`jaxtrain.optim` optimizer (step 0 uses η(0)),
jitted, vmapped and plotted (:func:`jaxtrain.optim.learning_rate_at`). Each equals optax's
schedule of the same idea where optax has one (same argument names), and a NumPy closed form
otherwise (:func:`inverse_sqrt`). Step counts are checked at construction: negative warmup,
decay or transition steps raise ``ValueError``.
"""

from jaxtrain.optim.schedules._decay import (
    constant,
    cosine_decay,
    exponential_decay,
    linear,
    piecewise_constant,
)
from jaxtrain.optim.schedules._join import join
from jaxtrain.optim.schedules._warmup import inverse_sqrt, warmup_constant, warmup_cosine_decay

__all__ = [
    "constant",
    "cosine_decay",
    "exponential_decay",
    "inverse_sqrt",
    "join",
    "linear",
    "piecewise_constant",
    "warmup_constant",
    "warmup_cosine_decay",
]
