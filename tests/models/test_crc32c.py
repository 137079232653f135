import zlib

import numpy as np
import pytest

from audioconcept.models import crc32c as c


def _bitwise(data: bytes) -> int:
    """CRC-32C bit by bit, straight from the definition (reflected polynomial 0x82F63B78)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_known_vectors():
    assert c.crc32c(b"") == 0
    assert c.crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert c.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720, B.4: 32 bytes of zeros
    assert c.crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720, B.4: 32 bytes of ones
    assert c.crc32c(bytes(range(32))) == 0x46DD794E  # RFC 3720, B.4: incrementing


@pytest.mark.parametrize("n", [1, 1023, 1024, 2047, 2048, 2049, 3 * 1024 + 5, 10_000])
def test_chunked_numpy_crc_equals_the_bitwise_definition(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert c.crc32c(data) == _bitwise(data)


def test_chunked_path_differs_from_plain_crc32_and_spots_one_flipped_bit():
    data = bytearray(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    ref = c.crc32c(data)
    assert ref != zlib.crc32(data)
    data[31_337] ^= 0x10
    assert c.crc32c(data) != ref


def test_mask_round_trip():
    for v in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert c.unmask(c.mask(v)) == v
    assert c.mask(0) == 0xA282EAD8
