"""Numbers in sentences: counts, percentages and values printed beside their thresholds."""

import math

import pytest

from jaxtrain._text import beside, counted, listed, percent, printed, side_by_side, signed


def test_counted_is_singular_only_for_one_and_groups_thousands():
    assert counted(1, "seed") == "1 seed"
    assert counted(0, "seed") == "0 seeds"
    assert counted(1438, "example") == "1,438 examples"
    assert counted(2, "matrix", "matrices") == "2 matrices"


def test_percent_is_fixed_point_and_names_non_finite_shares():
    assert percent(1.5) == "150%"
    assert percent(0.032) == "3.2%"
    assert percent(0.00041) == "0.041%"
    assert percent(math.nan) == "n/a"
    assert percent(math.inf) == "∞%"


@pytest.mark.parametrize(
    ("value", "threshold", "text"),
    [
        (0.2004, 0.2, "0.2004"),  # %.3g prints 0.2 and the reader sees 0.2 > 0.2
        (0.19996, 0.2, "0.19996"),
        (0.2, 0.2, "0.2"),
        (0.734, 0.2, "0.734"),  # far from the threshold: three significant digits
        (-0.29996, -0.3, "-0.29996"),
    ],
)
def test_beside_prints_enough_digits_for_the_comparison_to_read_right(value, threshold, text):
    assert beside(value, threshold) == text
    shown = float(beside(value, threshold))
    assert (shown > threshold) == (value > threshold)
    assert (shown < threshold) == (value < threshold)


def test_beside_gives_up_at_full_precision_and_names_non_finite_values():
    assert float(beside(0.2 + 1e-17, 0.2)) == 0.2 + 1e-17
    assert beside(math.inf, 0.2) == "∞"
    assert beside(math.nan, 0.2) == "n/a"


def test_beside_in_fixed_decimals_as_shares_are_printed():
    assert beside(0.2004, 0.2, 2, fixed=True) == "0.2004"
    assert beside(0.35, 0.2, 2, fixed=True) == "0.35"
    assert beside(0.2, 0.2, 2, fixed=True) == "0.20"


def test_beside_never_cuts_whole_digits_to_an_exponent():
    assert beside(41.3, 2.0, 1) == "41"
    assert beside(1234.5, 0.2) == "1234"


def test_side_by_side_keeps_the_order_of_values_and_their_side_of_thresholds():
    assert side_by_side([0.3004, 0.2996]) == ["0.3004", "0.2996"]
    assert side_by_side([1.5, 0.25]) == ["1.50", "0.25"]
    assert side_by_side([0.5, 0.5]) == ["0.50", "0.50"]  # equal values may print equal
    assert side_by_side([0.2004, 0.9], thresholds=[0.2]) == ["0.2004", "0.9000"]
    assert side_by_side([math.inf, 0.5]) == ["∞", "0.50"]


def test_side_by_side_in_significant_digits_for_values_of_different_sizes():
    assert side_by_side([-1.744e-3, -1.7449e-3], decimals=3, significant=True) == [
        "-0.001744",
        "-0.001745",
    ]
    assert side_by_side([-0.5, -1e-3], decimals=3, significant=True) == ["-0.5", "-0.001"]


def test_listed_names_items_after_their_noun_singular_for_one():
    assert listed([5], "step") == "step 5"
    assert listed([8, 16, 20], "step") == "steps 8, 16, 20"
    assert listed([], "step") == "no steps"


def test_percent_against_a_threshold_keeps_the_side_it_is_on():
    # 0.0996 is below a threshold of 0.1: "10%" would print it equal.
    assert percent(0.0996, against=0.1) == "9.96%"
    assert percent(0.1004, against=0.1) == "10.04%"
    assert percent(0.1, against=0.1) == "10%"
    assert percent(0.5, against=0.1) == "50%"
    assert percent(math.nan, against=0.1) == "n/a"


@pytest.mark.parametrize(
    ("text", "value"),
    [("9.8", 9.8), ("1,234", 1234.0), ("−0.5", -0.5), ("∞", math.inf), ("−∞", -math.inf)],
)
def test_printed_reads_a_number_back_as_a_caption_shows_it(text, value):
    assert printed(text) == value


def test_printed_reads_every_side_by_side_output_back_within_its_rounding():
    values = [0.9683, 0.90919, math.nan, -math.inf, 1234.5678]
    texts = side_by_side(values, decimals=3)
    assert math.isnan(printed(texts[2])) and printed(texts[3]) == -math.inf
    assert [printed(t) for t in texts[:2]] == [0.968, 0.909]
    assert texts[4] == "1234.568" and printed(texts[4]) == 1234.568


def test_signed_shows_the_sign_of_a_change_and_none_on_zero():
    assert (signed(0.04), signed(-1.25), signed(0.0), signed(-0.0)) == (
        "+0.04",
        "-1.2",
        "0.0",
        "0.0",
    )
