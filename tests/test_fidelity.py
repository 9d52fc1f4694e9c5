"""Precision, recall, density, coverage and KID: hand-computed cases, and the directions the
papers promise on synthetic sets."""

import numpy as np
import pytest

from gan_core import fidelity


def test_prdc_on_points_small_enough_to_count_by_hand():
    # Real points on a line at 0, 1, 2, 3: with k = 1 each ball reaches the nearest
    # neighbour, radius 1 for every point.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [1.0], [10.0], [11.0]])  # two inside the real balls, two far away
    got = fidelity.prdc(real, fake, k=1)
    assert got["precision"] == 0.5                    # 0.5 and 1.0 are inside
    # fake radii (k=1): 0.5, 0.5, 1, 1; real 0 is 0.5 from fake 0.5: inside; 1: inside;
    # 2 is 1.0 from fake 1.0 whose radius is 0.5: outside; 3 likewise
    assert got["recall"] == 0.5
    # 0.5 lies in the balls of 0 and 1; 1.0 in those of 0, 1, 2: (2 + 3) / (1 * 4)
    assert got["density"] == pytest.approx(5 / 4)
    # real 0: nearest fake 0.5 <= 1; real 1: 0; real 2: 1 <= 1; real 3: 2 > 1
    assert got["coverage"] == 0.75


def test_kid_by_hand_and_unbiased():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    k = lambda a, b: (a @ b / 2 + 1) ** 3
    by_hand = (k(x[0], x[1]) * 2 / 2 + k(y[0], y[1]) * 2 / 2
               - 2 * np.mean([k(a, b) for a in x for b in y]))
    value, se = fidelity.kid(x, y, subsets=1, subset_size=2)
    assert value == pytest.approx(by_hand) and se == 0.0
    rng = np.random.default_rng(0)
    same = [fidelity.kid(rng.normal(size=(200, 16)), rng.normal(size=(200, 16)),
                         subsets=5, subset_size=100, seed=s)[0] for s in range(6)]
    assert abs(np.mean(same)) < 0.02                  # two samples of one distribution: ~0
    shifted = fidelity.kid(rng.normal(size=(200, 16)), rng.normal(size=(200, 16)) + 0.5,
                           subsets=5, subset_size=100)[0]
    assert shifted > 0.1


def test_a_collapsed_set_is_precise_but_lacks_recall_and_noise_has_neither():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 8))
    collapsed = real[:5].repeat(100, axis=0) + rng.normal(scale=0.01, size=(500, 8))
    noise = rng.normal(loc=5.0, size=(500, 8))           # unlike every real point
    good = fidelity.prdc(real, rng.normal(size=(500, 8)))
    bad = fidelity.prdc(real, collapsed)
    junk = fidelity.prdc(real, noise)
    assert bad["precision"] > 0.9 and bad["recall"] < 0.1 and bad["coverage"] < 0.1
    assert junk["precision"] < 0.1 and junk["recall"] < 0.1
    assert good["precision"] > 0.6 and good["recall"] > 0.6 and good["coverage"] > 0.6


def test_compare_puts_the_real_vs_real_floor_beside_each_figure():
    rng = np.random.default_rng(2)
    out = fidelity.compare(rng.normal(size=(60, 4)) + 3, rng.normal(size=(120, 4)))
    for key in fidelity.KEYS:
        assert f"{key}_real" in out and key in out
    assert out["recall"] < out["recall_real"] and out["kid"] > out["kid_real"]


def test_kid_has_a_standard_error_over_distinct_subsets():
    rng = np.random.default_rng(3)
    value, se = fidelity.kid(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 0.3,
                             subsets=20, subset_size=1000)
    assert se > 0 and value > 2 * se
