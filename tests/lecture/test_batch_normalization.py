"""§6's claims at the quick size: BatchNorm trains the deep sigmoid net; a batch of one needs the
running statistics."""

import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain.lecture import batch_normalization

QUICK = lecture.LectureConfig(quick=True)


@pytest.fixture(scope="module")
def claims():
    return {claim.id: claim for claim in batch_normalization.SECTION.claims(QUICK, seed=0)}


def test_batchnorm_trains_the_deep_sigmoid_net_faster(claims):
    numbers = claims["with_and_without"].numbers
    assert numbers["plain_train_loss"].shape == (numbers["epochs"],)
    assert numbers["bn_train_loss"][-1] < 0.5 * numbers["plain_train_loss"][-1]
    assert numbers["bn_final_val_accuracy"] > numbers["plain_final_val_accuracy"]
    assert "lower" in claims["with_and_without"].caption


def test_a_batch_of_one_needs_running_statistics(claims):
    accuracy = claims["statistics_at_test_time"].numbers["accuracy"]
    assert accuracy["running statistics, whole validation set"] > 0.85
    # The running statistics do not depend on the batch: one at a time gives the same answer.
    assert accuracy["running statistics, batches of one"] == pytest.approx(
        accuracy["running statistics, whole validation set"], abs=1e-6
    )
    # x − μ = 0 for a batch of one, so every prediction is the same class: about chance.
    assert accuracy["batch statistics, batches of one"] < 0.2
    caption = claims["statistics_at_test_time"].caption
    assert f"{accuracy['batch statistics, batches of one']:.2f}" in caption
    assert ": the same, as testing needs" in caption


def test_claims_carry_their_section_and_a_figure(claims):
    for claim in claims.values():
        assert claim.section == "batch_normalization"
        assert claim.figure.axes
        assert np.isfinite(claim.numbers["epochs"])
