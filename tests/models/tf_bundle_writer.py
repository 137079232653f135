"""A tiny writer of TensorFlow tensor bundles, written from the format's description (LevelDB table
+ protobuf messages), so that the reader's parsing and failure modes are tested without TensorFlow
and without the musicnn wheel."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from audioconcept.models.crc32c import crc32c, mask

MAGIC = 0xDB4775248B80FB57
DT = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("int64"): 9,
      np.dtype("float16"): 19, np.dtype("bool"): 10, np.dtype("uint8"): 4}  # fmt: skip


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num: int, v: int) -> bytes:
    return varint(num << 3) + varint(v)


def field_bytes(num: int, b: bytes) -> bytes:
    return varint(num << 3 | 2) + varint(len(b)) + b


def field_fixed32(num: int, v: int) -> bytes:
    return varint(num << 3 | 5) + struct.pack("<I", v)


def header_proto(num_shards: int = 1, endianness: int = 0) -> bytes:
    out = field_varint(1, num_shards)
    if endianness:
        out += field_varint(2, endianness)
    return out + field_bytes(3, field_varint(1, 1))  # version {producer: 1}


def entry_proto(dtype: int, shape: tuple[int, ...], shard: int, offset: int, size: int, crc: int | None) -> bytes:
    shape_msg = b"".join(field_bytes(2, field_varint(1, d)) for d in shape)
    out = field_varint(1, dtype) + field_bytes(2, shape_msg)
    if shard:
        out += field_varint(3, shard)
    if offset:
        out += field_varint(4, offset)
    out += field_varint(5, size)
    if crc is not None:
        out += field_fixed32(6, crc)
    return out


def block(items: list[tuple[bytes, bytes]], restart_interval: int = 2) -> bytes:
    """Prefix-compressed entries + restart array, as LevelDB's BlockBuilder writes them."""
    out = bytearray()
    restarts = []
    prev = b""
    for i, (k, v) in enumerate(items):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(prev), len(k)) and prev[shared] == k[shared]:
                shared += 1
        out += varint(shared) + varint(len(k) - shared) + varint(len(v)) + k[shared:] + v
        prev = k
    if not restarts:
        restarts = [0]
    for r in restarts:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts))
    return bytes(out)


def table(items: list[tuple[bytes, bytes]], per_block: int = 3, compression: int = 0) -> bytes:
    """A LevelDB table: data blocks of `per_block` entries, an empty metaindex block, an index block, footer."""
    out = bytearray()

    def put(contents: bytes) -> tuple[int, int]:
        off = len(out)
        out.extend(contents)
        out.append(compression)
        out.extend(struct.pack("<I", mask(crc32c(contents + bytes([compression])))))
        return off, len(contents)

    index_items = []
    for i in range(0, len(items), per_block):
        chunk = items[i : i + per_block]
        off, size = put(block(chunk))
        index_items.append((chunk[-1][0], varint(off) + varint(size)))
    meta = put(block([]))
    index = put(block(index_items, restart_interval=1))
    footer = varint(meta[0]) + varint(meta[1]) + varint(index[0]) + varint(index[1])
    out += footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", MAGIC)
    return bytes(out)


def write_bundle(prefix: Path | str, tensors: dict[str, np.ndarray], num_shards: int = 1) -> None:
    """PREFIX.index + PREFIX.data-0000K-of-0000N; tensors go round-robin over the shards. A prefix
    that ends in "/" gives files named ".index" and ".data-..." in that folder."""
    shards = [bytearray() for _ in range(num_shards)]
    items = [(b"", header_proto(num_shards))]
    for i, name in enumerate(sorted(tensors)):
        a = np.asarray(tensors[name]).copy(order="C")
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        k = i % num_shards
        off = len(shards[k])
        shards[k] += raw
        items.append((name.encode(), entry_proto(DT[a.dtype], a.shape, k, off, len(raw), mask(crc32c(raw)))))
    Path(str(prefix) + ".index").parent.mkdir(parents=True, exist_ok=True)
    Path(str(prefix) + ".index").write_bytes(table(items))
    for k, data in enumerate(shards):
        Path(f"{prefix}.data-{k:05d}-of-{num_shards:05d}").write_bytes(bytes(data))
