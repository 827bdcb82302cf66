"""Legend labels of plot_spectrum state only what the eigenvalues they count show."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.plot import plot_spectrum


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labels(values, eig_tol):
    ax = plot_spectrum(np.asarray(values), eig_tol=eig_tol)
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_signed_groups_count_what_their_label_says():
    # 1e-7 is within eig_tol = 1e-6 and drawn grey: "λ > 0: 2" is false of these values,
    # three of which are > 0 (the label must name the bound it used, e.g. "λ > 1e-06").
    values = [-2.0, 1e-7, 1.0, 4.0]
    for label in _labels(values, 1e-6):
        match = re.fullmatch(r"λ ([<>]) (\S+): (\d+)", label)
        if match:
            sign, bound, count = match.groups()
            side = [v > float(bound) if sign == ">" else v < float(bound) for v in values]
            assert sum(side) == int(count), label


def test_zero_group_bound_holds_for_every_value_it_counts():
    # eig_tol = 3.4549e-4 counts λ = 3.453e-4 as zero; "|λ| ≤ 0.000345" is false of it.
    values = [-2.0, 3.453e-4, 1.0, 4.0]
    (label,) = [label for label in _labels(values, 3.4549e-4) if label.startswith("|λ|")]
    bound, count = re.fullmatch(r"\|λ\| ≤ (\S+): (\d+)", label).groups()
    assert int(count) == 1
    assert abs(values[1]) <= float(bound), label
