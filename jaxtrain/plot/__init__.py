"""Pictures of everything a person would rather see than read: spectra, loss slices, trajectories.

Each function takes arrays (or jaxtrain results) and an optional matplotlib ``Axes`` and returns
the ``Axes`` it drew on, so figures compose in notebooks and in the ``jaxtrain tour`` report.
"""

from jaxtrain.plot._augment import plot_augmentations

__all__: list[str] = [
    "plot_augmentations",
]
