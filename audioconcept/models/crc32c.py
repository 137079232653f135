"""CRC-32C (Castagnoli), as TensorFlow's checkpoints and LevelDB tables use it, in numpy.

A byte loop in Python would take seconds per megabyte, so the data is cut into equal chunks whose
CRCs advance side by side (one numpy step per byte position, all chunks at once); the chunk CRCs
are then joined with the "append n zero bytes" operator, as zlib's crc32_combine does:
crc(A + B) = Z^len(B)(crc(A)) xor crc(B).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

POLY = 0x82F63B78  # reflected Castagnoli polynomial
CHUNK = 1024
MASK_DELTA = 0xA282EAD8


def _make_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(POLY), t >> 1).astype(np.uint32)
    return t


TABLE = _make_table()
_TABLE_LIST = [int(v) for v in TABLE]


def _crc_small(data: bytes | memoryview, crc: int = 0) -> int:
    c = crc ^ 0xFFFFFFFF
    t = _TABLE_LIST
    for b in bytes(data):
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


@lru_cache(maxsize=64)
def _zeros_operator(n: int) -> tuple[tuple[int, ...], ...]:
    """Z^n (feed n zero bytes to the raw register) as four 256-entry tables, one per input byte."""
    basis = np.uint32(1) << np.arange(32, dtype=np.uint32)
    c = basis.copy()
    for _ in range(n):
        c = TABLE[c & 0xFF] ^ (c >> 8)
    cols = [int(v) for v in c]
    tables = []
    for byte in range(4):
        tab = []
        for v in range(256):
            acc = 0
            for bit in range(8):
                if v >> bit & 1:
                    acc ^= cols[8 * byte + bit]
            tab.append(acc)
        tables.append(tuple(tab))
    return tuple(tables)


def _shift(crc: int, op: tuple[tuple[int, ...], ...]) -> int:
    return op[0][crc & 0xFF] ^ op[1][crc >> 8 & 0xFF] ^ op[2][crc >> 16 & 0xFF] ^ op[3][crc >> 24]


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """The CRC-32C of `data` (crc32c(b"123456789") == 0xE3069283)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    k = buf.size // CHUNK
    if k < 2:
        return _crc_small(memoryview(buf))
    block = buf[: k * CHUNK].reshape(k, CHUNK)
    lanes = np.full(k, 0xFFFFFFFF, dtype=np.uint32)
    for i in range(CHUNK):
        lanes = TABLE[(lanes ^ block[:, i]) & 0xFF] ^ (lanes >> 8)
    lanes ^= np.uint32(0xFFFFFFFF)
    op = _zeros_operator(CHUNK)
    crc = int(lanes[0])
    for v in lanes[1:].tolist():
        crc = _shift(crc, op) ^ v
    tail = buf[k * CHUNK :]
    if tail.size:
        crc = _shift(crc, _zeros_operator(int(tail.size))) ^ _crc_small(memoryview(tail))
    return crc


def unmask(masked: int) -> int:
    """LevelDB and TensorFlow store CRCs "masked" (rotated and offset) so that a CRC of data that
    itself contains CRCs stays well distributed."""
    rot = (masked - MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF
