"""Read TensorFlow's tensor-bundle checkpoints (`PREFIX.index` + `PREFIX.data-0000K-of-0000N`) with numpy.

No TensorFlow and no protobuf package. The `.index` file is a LevelDB-style table (data blocks of
prefix-compressed key/value entries, an index block pointing at them, a 48-byte footer with a magic
number); its values are protobuf messages, decoded here by hand:

- key "" -> BundleHeaderProto {1: num_shards, 2: endianness, 3: version};
- key = tensor name -> BundleEntryProto {1: dtype, 2: shape {2: dim {1: size}}, 3: shard_id,
  4: offset, 5: size, 6: crc32c (masked, of the tensor bytes), 7: slices}.

The `.data` shards hold the raw little-endian tensor bytes at those offsets. Every block and every
tensor is checked against its CRC-32C; a truncated, corrupt or foreign file raises a one-line
CheckpointError.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioconcept.errors import CheckpointError
from audioconcept.models.crc32c import crc32c, unmask

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 40 bytes + the 8-byte magic
BLOCK_TRAILER = 5  # compression type (1 byte) + masked crc32c (4 bytes)

# TensorFlow DataType enum -> numpy (little endian); DT_STRING and the quantized types are not read
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}

# optimiser state that a Saver writes next to the weights: slots named VAR/Adam, VAR/Adam_1, ...
SLOT_RE = re.compile(r"/(Adam|Adam_\d+|Momentum|RMSProp|RMSProp_\d+|Adagrad|Adadelta|Adadelta_\d+|Ftrl|Ftrl_\d+)$")
ACCUMULATOR_RE = re.compile(r"(^|/)(beta1_power|beta2_power)(_\d+)?$")


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # TensorFlow DataType enum
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None  # masked, as stored


def is_optimizer_slot(name: str) -> bool:
    return bool(SLOT_RE.search(name) or ACCUMULATOR_RE.search(name))


# ---------------------------------------------------------------- protobuf wire format
def read_varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    """-> (value, next position); at most 10 bytes (64 bits)."""
    result = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise CheckpointError(f"{where}: truncated (a varint runs past the end)")
        b = buf[pos + i]
        result |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return result, pos + i + 1
    raise CheckpointError(f"{where}: corrupt (a varint longer than 10 bytes)")


def proto_fields(buf: bytes, where: str) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a serialized protobuf message, in order: varints and
    fixed-width numbers as ints, length-delimited fields as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos, where)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise CheckpointError(f"{where}: corrupt protobuf (field number 0)")
        if wire == 0:
            value, pos = read_varint(buf, pos, where)
            out.append((field, value))
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            if pos + n > len(buf):
                raise CheckpointError(f"{where}: truncated protobuf (fixed{8 * n} field {field})")
            out.append((field, int.from_bytes(buf[pos : pos + n], "little")))
            pos += n
        elif wire == 2:
            n, pos = read_varint(buf, pos, where)
            if pos + n > len(buf):
                raise CheckpointError(f"{where}: truncated protobuf (field {field} wants {n} bytes)")
            out.append((field, bytes(buf[pos : pos + n])))
            pos += n
        else:
            raise CheckpointError(f"{where}: corrupt protobuf (wire type {wire} in field {field})")
    return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_shape(buf: bytes, where: str) -> tuple[int, ...]:
    """TensorShapeProto {2: repeated Dim {1: int64 size, 2: name}, 3: unknown_rank}."""
    dims: list[int] = []
    for field, value in proto_fields(buf, where):
        if field == 3 and value:
            raise CheckpointError(f"{where}: a tensor of unknown rank")
        if field == 2 and isinstance(value, bytes):
            size = 0
            for f, v in proto_fields(value, where):
                if f == 1 and isinstance(v, int):
                    size = _signed64(v)
            if size < 0:
                raise CheckpointError(f"{where}: a tensor of unknown size ({size})")
            dims.append(size)
    return tuple(dims)


def parse_entry(name: str, buf: bytes, where: str) -> TensorEntry:
    fields = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": None}
    for field, value in proto_fields(buf, f"{where} [{name}]"):
        if field == 1:
            fields["dtype"] = value
        elif field == 2 and isinstance(value, bytes):
            fields["shape"] = parse_shape(value, f"{where} [{name}]")
        elif field == 3:
            fields["shard_id"] = value
        elif field == 4:
            fields["offset"] = value
        elif field == 5:
            fields["size"] = value
        elif field == 6:
            fields["crc32c"] = value
        elif field == 7:
            raise CheckpointError(f"{where}: {name!r} is a partitioned (sliced) variable, which is not supported")
    return TensorEntry(name, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- LevelDB table
def _block_handle(buf: bytes, pos: int, where: str) -> tuple[int, int, int]:
    offset, pos = read_varint(buf, pos, where)
    size, pos = read_varint(buf, pos, where)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int, where: str) -> bytes:
    end = offset + size + BLOCK_TRAILER
    if end > len(table) - FOOTER_SIZE:
        raise CheckpointError(f"{where}: truncated (a block at {offset}+{size} runs past the end)")
    block = table[offset : offset + size]
    kind = table[offset + size]
    if kind != 0:
        raise CheckpointError(f"{where}: compressed table blocks (type {kind}) are not supported")
    (stored,) = struct.unpack_from("<I", table, offset + size + 1)
    if unmask(stored) != crc32c(table[offset : offset + size + 1]):
        raise CheckpointError(f"{where}: corrupt (checksum mismatch in the block at offset {offset})")
    return block


def _block_entries(block: bytes, where: str) -> list[tuple[bytes, bytes]]:
    """Entries of one block: shared key prefix (varint), unshared length, value length, key delta, value;
    then uint32 restart offsets and their count."""
    if len(block) < 4:
        raise CheckpointError(f"{where}: corrupt (a block of {len(block)} bytes)")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if n_restarts == 0 or limit < 0:
        raise CheckpointError(f"{where}: corrupt (bad restart array in a block)")
    out: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = read_varint(block, pos, where)
        unshared, pos = read_varint(block, pos, where)
        vlen, pos = read_varint(block, pos, where)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise CheckpointError(f"{where}: corrupt (a block entry runs past its block)")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        out.append((key, block[pos : pos + vlen]))
        pos += vlen
    return out


def table_items(table: bytes, where: str = "checkpoint index") -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a LevelDB-format table, in key order."""
    if len(table) < FOOTER_SIZE:
        raise CheckpointError(f"{where}: not a TensorFlow checkpoint index (only {len(table)} bytes)")
    (magic,) = struct.unpack_from("<Q", table, len(table) - 8)
    if magic != TABLE_MAGIC:
        raise CheckpointError(f"{where}: not a TensorFlow checkpoint index (no table magic number at its end)")
    footer = table[len(table) - FOOTER_SIZE :]
    _, _, pos = _block_handle(footer, 0, where)  # metaindex: empty in tensor bundles
    index_off, index_size, _ = _block_handle(footer, pos, where)
    items: list[tuple[bytes, bytes]] = []
    for _, handle in _block_entries(_read_block(table, index_off, index_size, where), where):
        off, size, _ = _block_handle(handle, 0, where)
        items += _block_entries(_read_block(table, off, size, where), where)
    return items


# ---------------------------------------------------------------- tensor bundle
def bundle_entries(index: bytes, where: str = "checkpoint index") -> tuple[int, dict[str, TensorEntry]]:
    """-> (number of data shards, name -> entry) from the bytes of a `.index` file."""
    num_shards = None
    entries: dict[str, TensorEntry] = {}
    for key, value in table_items(index, where):
        if key == b"":
            header = dict(proto_fields(value, f"{where} header"))
            if header.get(2, 0) != 0:
                raise CheckpointError(f"{where}: a big-endian checkpoint, which is not supported")
            num_shards = int(header.get(1, 0))
            continue
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{where}: corrupt (a tensor name that is not UTF-8)") from None
        entries[name] = parse_entry(name, value, where)
    if num_shards is None:
        raise CheckpointError(f"{where}: not a tensor bundle (no header entry)")
    return num_shards, entries


def data_shard_name(shard: int, num_shards: int) -> str:
    return f".data-{shard:05d}-of-{num_shards:05d}"


def decode_tensor(entry: TensorEntry, shard: bytes, where: str) -> np.ndarray:
    dtype = DTYPES.get(entry.dtype)
    if dtype is None:
        raise CheckpointError(f"{where}: {entry.name!r} has TensorFlow dtype {entry.dtype}, which is not supported")
    n = int(np.prod(entry.shape, dtype=np.int64))
    if entry.size != n * dtype.itemsize:
        need = n * dtype.itemsize
        shape = list(entry.shape)
        raise CheckpointError(f"{where}: {entry.name!r} holds {entry.size} bytes, but shape {shape} needs {need}")
    end = entry.offset + entry.size
    if end > len(shard):
        raise CheckpointError(f"{where}: truncated ({entry.name!r} ends at byte {end}, the shard has {len(shard)})")
    raw = shard[entry.offset : end]
    if entry.crc32c is not None and unmask(entry.crc32c) != crc32c(raw):
        raise CheckpointError(f"{where}: corrupt ({entry.name!r} fails its checksum)")
    return np.frombuffer(raw, dtype=dtype).reshape(entry.shape).astype(dtype.newbyteorder("="), copy=True)


def read_bundle(
    index: bytes,
    shard: Callable[[int, int], bytes],
    where: str = "checkpoint",
    skip_slots: bool = True,
) -> dict[str, np.ndarray]:
    """name -> array from a `.index` file's bytes; `shard(k, n)` returns the bytes of data shard k of n.
    Optimiser slots (VAR/Adam, VAR/Adam_1, beta1_power, ...) are left out unless skip_slots=False."""
    num_shards, entries = bundle_entries(index, f"{where} index")
    wanted = {k: e for k, e in entries.items() if not (skip_slots and is_optimizer_slot(k))}
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name, e in sorted(wanted.items()):
        if not 0 <= e.shard_id < max(num_shards, 1):
            raise CheckpointError(f"{where}: {name!r} points at shard {e.shard_id} of {num_shards}")
        if e.shard_id not in shards:
            shards[e.shard_id] = shard(e.shard_id, num_shards)
        out[name] = decode_tensor(e, shards[e.shard_id], f"{where} {data_shard_name(e.shard_id, num_shards)}")
    return out


def _index_path(prefix: str | Path) -> Path:
    p = Path(prefix)
    if p.is_dir():  # a prefix that ends in "/": files named ".index", ".data-00000-of-00001"
        return p / ".index"
    return p.with_name(p.name + ".index") if not p.name.endswith(".index") else p


def read_tf_checkpoint(prefix: str | Path, skip_slots: bool = True) -> dict[str, np.ndarray]:
    """name -> array of a checkpoint on disk, given its prefix (`model.ckpt` for `model.ckpt.index`),
    the `.index` file itself, or a folder whose files are named `.index` and `.data-...`."""
    index_path = _index_path(prefix)
    if not index_path.is_file():
        raise CheckpointError(f"{prefix}: no TensorFlow checkpoint here ({index_path} is missing)")
    base = str(index_path)[: -len(".index")]

    def shard(k: int, n: int) -> bytes:
        p = Path(base + data_shard_name(k, n))
        if not p.is_file():
            raise CheckpointError(f"{prefix}: the data shard {p.name} is missing")
        return p.read_bytes()

    return read_bundle(index_path.read_bytes(), shard, str(prefix), skip_slots)
