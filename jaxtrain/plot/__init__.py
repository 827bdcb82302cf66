"""Pictures of everything a person would rather see than read: spectra, loss slices, trajectories.

Each function takes arrays (or jaxtrain results) and an optional matplotlib ``Axes`` and returns
the ``Axes`` it drew on, so figures compose in notebooks and in the ``jaxtrain tour`` report;
the two that draw several panels return them all (``plot_history`` an array of ``Axes``,
``plot_augmentations`` the figure and its axes).
"""

from jaxtrain.plot._augment import plot_augmentations
from jaxtrain.plot._history import plot_history
from jaxtrain.plot._landscape import plot_loss_slice_1d, plot_loss_surface_2d
from jaxtrain.plot._spectrum import plot_density, plot_spectrum
from jaxtrain.plot._trajectories import plot_schedules, plot_trajectories

__all__: list[str] = [
    "plot_augmentations",
    "plot_density",
    "plot_history",
    "plot_loss_slice_1d",
    "plot_loss_surface_2d",
    "plot_schedules",
    "plot_spectrum",
    "plot_trajectories",
]
