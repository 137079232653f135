"""Exact running median along one axis, with scipy.ndimage's 'reflect' edges, in plain numpy.

HPSS needs a 31-wide median along time and along frequency of a 1025 x 1292 spectrogram; a
sort per window costs ~150 ns, too slow. Windows of width k = 2**m - 1 share work instead:
two neighbouring windows share a core of k - 1 samples, and the median of each is one of only
three candidates (two middle order statistics of the core, and the window's own extra
sample). Applied recursively, windows at level l are cores of width 2**m - 2**l, of which
only the middle 2**l order statistics matter, and the cores at the last level are disjoint
sorted blocks of 2**(m-1). Those blocks, and every level's extra samples, are sorted blocks
built bottom-up by merging pairs, so every step is a small comparator network (Batcher's
odd-even merge, pruned to the order statistics it must deliver) evaluated with np.minimum /
np.maximum over whole arrays: about 26 array operations per output instead of a sort. Min
and max only move values, so the result equals scipy's median exactly.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_INF = -1  # wire id of a constant +inf (padding of the merge network)
_COLUMNS = 128  # columns per pass: keeps a level's working set in the L2 cache

Program = tuple[tuple[tuple[bool, int, int], ...], tuple[int, ...]]  # ((is_max, a, b), ...), outputs


class _Network:
    """Comparator network in single-assignment form: each op makes a new wire."""

    def __init__(self, n_inputs: int) -> None:
        self.n_inputs = n_inputs
        self.ops: list[tuple[bool, int, int]] = []

    def _op(self, is_max: bool, a: int, b: int) -> int:
        if a == _INF or b == _INF:
            return _INF if is_max else (b if a == _INF else a)
        self.ops.append((is_max, a, b))
        return self.n_inputs + len(self.ops) - 1

    def compare(self, a: int, b: int) -> tuple[int, int]:
        return self._op(False, a, b), self._op(True, a, b)

    def merge(self, a: list[int], b: list[int]) -> list[int]:
        """Batcher's odd-even merge of two sorted wire lists (padded with +inf to a power of two)."""
        if not a or not b:
            return a or b
        n = 1
        while n < max(len(a), len(b)):
            n *= 2
        out = self._merge_halves(a + [_INF] * (n - len(a)) + b + [_INF] * (n - len(b)))
        return out[: len(a) + len(b)]

    def _merge_halves(self, x: list[int]) -> list[int]:
        if len(x) == 2:
            return list(self.compare(x[0], x[1]))
        even, odd = self._merge_halves(x[0::2]), self._merge_halves(x[1::2])
        out = [even[0]]
        for i in range(len(x) // 2 - 1):
            out += self.compare(odd[i], even[i + 1])
        return [*out, odd[-1]]

    def program(self, outputs: list[int]) -> Program:
        """Keep only the ops the outputs depend on; renumber the wires."""
        need = set(outputs)
        keep = [False] * len(self.ops)
        for k in range(len(self.ops) - 1, -1, -1):
            if self.n_inputs + k in need:
                keep[k] = True
                need.update(self.ops[k][1:])
        remap = {i: i for i in range(self.n_inputs)}
        ops: list[tuple[bool, int, int]] = []
        for k, (is_max, a, b) in enumerate(self.ops):
            if keep[k]:
                remap[self.n_inputs + k] = self.n_inputs + len(ops)
                ops.append((is_max, remap[a], remap[b]))
        return tuple(ops), tuple(remap[o] for o in outputs)


@cache
def merge_program(n_a: int, n_b: int, lo: int = 0, hi: int | None = None) -> Program:
    """Inputs: n_a sorted wires, then n_b sorted ones. Outputs: order statistics lo..hi of all."""
    net = _Network(n_a + n_b)
    merged = net.merge(list(range(n_a)), list(range(n_a, n_a + n_b)))
    return net.program(merged[lo : (n_a + n_b if hi is None else hi + 1)])


def run_program(program: Program, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ops, outputs = program
    wires = list(inputs)
    for is_max, a, b in ops:
        wires.append(np.maximum(wires[a], wires[b]) if is_max else np.minimum(wires[a], wires[b]))
    return [wires[o] for o in outputs]


def _levels(size: int) -> int:
    m = (size + 1).bit_length() - 1
    return m if size >= 3 and 2**m - 1 == size else 0


def _median_rows(x: np.ndarray, m: int) -> np.ndarray:
    """Median over axis 0 of a 2-D array, window 2**m - 1, symmetric ('reflect') edges.

    Sorted blocks of 2**k samples starting at offsets 2**k - 1 (mod 2**k) are built bottom-up
    by merging pairs; window phase p at level l starts at p 2**l + 2**l - 1 and its 2**l extra
    samples form exactly one such block, so every level only merges sorted lists."""
    size, block = 2**m - 1, 2 ** (m - 1)
    n = x.shape[0]
    t = -(-n // block)
    half = size // 2
    y = np.ascontiguousarray(np.pad(x, [(half, half + block * t - n), (0, 0)], mode="symmetric"))
    blocks = [[y]]  # blocks[k][i][j]: the i-th smallest of y[2**k (j + 1) - 1 : 2**k (j + 2) - 1]
    for k in range(1, m):
        prev = blocks[-1]
        count = (y.shape[0] - 2**k + 1) // 2**k
        left = [w[1 : 1 + 2 * count : 2] for w in prev]
        right = [w[2 : 2 + 2 * count : 2] for w in prev]
        blocks.append(run_program(merge_program(len(prev), len(prev)), left + right))
    cores = [[w[:t] for w in blocks[m - 1]]]  # level m-1: the windows' shared cores of 2**(m-1)
    for level in range(m - 2, -1, -1):
        e = 2**level
        prog = merge_program(2 * e, e, e, 2 * e - 1)
        nxt = []
        for phase in range(block // e):
            start = phase * e + e - 1
            first = start if phase % 2 == 0 else start + size + 1 - 2 * e
            j0, step = (first - e + 1) // e, block // e
            extra = [w[j0 : j0 + step * t : step] for w in blocks[level]]
            nxt.append(run_program(prog, cores[phase // 2] + extra))
        cores = nxt
    out = np.empty((block * t, x.shape[1]), x.dtype)
    for phase in range(block):
        out[phase::block] = cores[phase][0]
    return out[:n]


def median_filter(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """scipy.ndimage.median_filter(x, size=size along `axis` only, mode='reflect') for 2-D `x`,
    odd `size`. Fast for size = 2**m - 1 (3, 7, 15, 31, 63); other sizes sort each window."""
    if x.ndim != 2 or size % 2 == 0 or size < 1:
        raise ValueError("median_filter needs a 2-D array and an odd size")
    if size == 1:
        return x.copy()
    rows = np.moveaxis(x, axis, 0)  # a view: each chunk of columns is transposed while it is small
    m = _levels(size)
    if not m:
        pad = np.pad(rows, [(size // 2, size // 2), (0, 0)], mode="symmetric")
        return np.moveaxis(np.median(sliding_window_view(pad, size, axis=0), axis=-1).astype(x.dtype), 0, axis)
    out = np.empty_like(x)
    out_rows = np.moveaxis(out, axis, 0)
    for c in range(0, rows.shape[1], _COLUMNS):
        out_rows[:, c : c + _COLUMNS] = _median_rows(rows[:, c : c + _COLUMNS], m)
    return out
