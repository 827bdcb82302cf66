"""Pictures of everything a person would rather see than read: spectra, loss slices, trajectories.

Each function takes arrays (or jaxtrain results) and an optional matplotlib ``Axes`` and returns
the ``Axes`` it drew on, so figures compose in notebooks and in the ``jaxtrain tour`` report.
"""

__all__: list[str] = []
