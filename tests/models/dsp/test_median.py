import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from audioconcept.models.dsp.median import median_filter, merge_program, run_program


def _brute(x: np.ndarray, size: int) -> np.ndarray:
    """The definition: the median of each window of the symmetric ('reflect') extension."""
    pad = np.pad(x, [(size // 2, size // 2), (0, 0)], mode="symmetric")
    return np.median(sliding_window_view(pad, size, axis=0), axis=-1).astype(x.dtype)


@pytest.mark.parametrize("size", [3, 5, 7, 15, 31, 63])
def test_equals_the_definition_with_ties_and_any_length(size):
    rng = np.random.default_rng(size)
    for n in [1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 33, 47, 100, 130]:
        x = rng.integers(0, 5, (n, 6)).astype(np.float32)  # many ties
        np.testing.assert_array_equal(median_filter(x, size, axis=0), _brute(x, size))
        np.testing.assert_array_equal(median_filter(x.T.copy(), size, axis=1), _brute(x, size).T)


def test_equals_scipy_median_filter_on_a_spectrogram_like_array():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((300, 257)) ** 2).astype(np.float32)
    for axis, shape in ((0, (31, 1)), (1, (1, 31))):
        np.testing.assert_array_equal(median_filter(x, 31, axis), ndimage.median_filter(x, size=shape, mode="reflect"))


def test_merge_networks_merge_every_pair_of_sorted_01_sequences():
    """0-1 principle: a comparator network that merges all sorted 0/1 inputs merges any input."""
    for na, nb in [(1, 1), (2, 2), (4, 4), (8, 8), (2, 1), (4, 2), (8, 4), (16, 8), (3, 5)]:
        prog = merge_program(na, nb)
        for ka in range(na + 1):
            for kb in range(nb + 1):
                a = [np.array([0.0 if i < na - ka else 1.0]) for i in range(na)]
                b = [np.array([0.0 if i < nb - kb else 1.0]) for i in range(nb)]
                out = [float(v[0]) for v in run_program(prog, a + b)]
                assert out == sorted(out) and sum(out) == ka + kb


def test_rejects_even_sizes_and_other_shapes():
    with pytest.raises(ValueError):
        median_filter(np.zeros((4, 4)), 4, 0)
    with pytest.raises(ValueError):
        median_filter(np.zeros(4), 3, 0)
