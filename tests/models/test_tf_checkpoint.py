import struct
import zipfile

import numpy as np
import pytest

from audioconcept.errors import CheckpointError
from audioconcept.models import tf_checkpoint as tfc
from tests.models import tf_bundle_writer as w


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "conv2d/kernel": rng.standard_normal((3, 5, 1, 4)).astype(np.float32),
        "conv2d/bias": rng.standard_normal(4).astype(np.float32),
        "conv2d/kernel/Adam": np.zeros((3, 5, 1, 4), np.float32),
        "conv2d/kernel/Adam_1": np.ones((3, 5, 1, 4), np.float32),
        "beta1_power": np.array(0.9, np.float32),
        "beta2_power": np.array(0.999, np.float32),
        "batch_normalization/moving_mean": rng.standard_normal(7).astype(np.float64),
        "global_step": np.array(123456789012, np.int64),
        "counts": np.arange(6, dtype=np.int32).reshape(2, 3),
        "half": np.array([1.5, -2.25], np.float16),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 3), np.float32),
    }


@pytest.fixture
def bundle(tmp_path):
    prefix = tmp_path / "ckpt" / "model.ckpt"
    w.write_bundle(prefix, _tensors())
    return prefix


def test_reads_every_dtype_and_shape_and_skips_optimiser_slots(bundle):
    got = tfc.read_tf_checkpoint(bundle)
    want = {k: v for k, v in _tensors().items() if "Adam" not in k and "power" not in k}
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v)
    assert got["global_step"] == 123456789012
    everything = tfc.read_tf_checkpoint(bundle, skip_slots=False)
    assert set(everything) == set(_tensors())


def test_prefix_spellings(bundle, tmp_path):
    a = tfc.read_tf_checkpoint(str(bundle) + ".index")
    assert set(a) == set(tfc.read_tf_checkpoint(bundle))
    # musicnn's layout: a folder whose files are named ".index" and ".data-00000-of-00001"
    w.write_bundle(f"{tmp_path}/folder/", {"x": np.ones(2, np.float32)})
    assert (tmp_path / "folder" / ".index").exists()
    np.testing.assert_array_equal(tfc.read_tf_checkpoint(tmp_path / "folder")["x"], [1, 1])


def test_many_blocks_prefix_compression_and_several_shards(tmp_path):
    tensors = {f"layer_{i:03d}/kernel": np.full((i % 4 + 1,), i, np.float32) for i in range(40)}
    w.write_bundle(tmp_path / "m", tensors, num_shards=3)
    assert (tmp_path / "m.data-00002-of-00003").exists()
    got = tfc.read_tf_checkpoint(tmp_path / "m")
    assert list(got) == sorted(tensors)
    for k, v in tensors.items():
        np.testing.assert_array_equal(got[k], v)


def test_entries_carry_dtype_shape_and_masked_crc(bundle):
    n, entries = tfc.bundle_entries((bundle.parent / "model.ckpt.index").read_bytes())
    assert n == 1 and len(entries) == len(_tensors())
    e = entries["conv2d/kernel"]
    assert (e.dtype, e.shape, e.size) == (1, (3, 5, 1, 4), 240)
    assert e.crc32c is not None


@pytest.mark.parametrize(
    "name, slot",
    [("a/kernel/Adam", True), ("a/kernel/Adam_1", True), ("beta2_power", True), ("x/beta1_power_3", True),
     ("a/kernel", False), ("Adam/kernel", False), ("global_step", False), ("a/Momentum", True)],
)  # fmt: skip
def test_optimizer_slot_names(name, slot):
    assert tfc.is_optimizer_slot(name) is slot


# ---------------------------------------------------------------- failure modes: one line each
def _expect(prefix, match):
    with pytest.raises(CheckpointError, match=match) as e:
        tfc.read_tf_checkpoint(prefix)
    assert "\n" not in str(e.value)


def test_missing_index_and_shard(tmp_path, bundle):
    _expect(tmp_path / "nothing", "no TensorFlow checkpoint here")
    (bundle.parent / "model.ckpt.data-00000-of-00001").unlink()
    _expect(bundle, "data shard .* is missing")


def test_foreign_and_truncated_index(bundle):
    index = bundle.parent / "model.ckpt.index"
    raw = index.read_bytes()
    index.write_bytes(b"PK\x03\x04 a zip, not a table")
    _expect(bundle, r"not a TensorFlow checkpoint index \(only 23 bytes\)")
    index.write_bytes(b"\0" * 100)
    _expect(bundle, "no table magic number")
    index.write_bytes(raw[:-1])
    _expect(bundle, "no table magic number")
    index.write_bytes(raw[:30] + raw[-48:])  # blocks cut off, footer kept
    _expect(bundle, "truncated|corrupt")


def test_corrupt_block_fails_its_checksum(bundle):
    index = bundle.parent / "model.ckpt.index"
    raw = bytearray(index.read_bytes())
    raw[12] ^= 0x01
    index.write_bytes(bytes(raw))
    _expect(bundle, "checksum mismatch")


def test_truncated_or_corrupt_data(bundle):
    data = bundle.parent / "model.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    data.write_bytes(bytes(raw[: len(raw) // 2]))
    _expect(bundle, "truncated")
    raw[3] ^= 0xFF
    data.write_bytes(bytes(raw))
    _expect(bundle, "fails its checksum")


def _single_entry_table(tmp_path, entry: bytes, header: bytes | None = None, compression: int = 0):
    items = [(b"", header or w.header_proto()), (b"x", entry)]
    (tmp_path / "t.index").write_bytes(w.table(items, compression=compression))
    (tmp_path / "t.data-00000-of-00001").write_bytes(bytes(64))
    return tmp_path / "t"


def test_unsupported_features_are_named(tmp_path):
    _expect(_single_entry_table(tmp_path, w.entry_proto(7, (2,), 0, 0, 8, None)), "dtype 7, which is not supported")
    _expect(_single_entry_table(tmp_path, w.entry_proto(1, (2,), 0, 0, 12, None)), "holds 12 bytes, but shape")
    _expect(_single_entry_table(tmp_path, w.entry_proto(1, (2,), 0, 0, 8, None), w.header_proto(1, 1)), "big-endian")
    _expect(_single_entry_table(tmp_path, w.entry_proto(1, (2,), 0, 0, 8, None), compression=1), "compressed")
    sliced = w.entry_proto(1, (2,), 0, 0, 8, None) + w.field_bytes(7, b"")
    _expect(_single_entry_table(tmp_path, sliced), "partitioned")
    _expect(_single_entry_table(tmp_path, w.entry_proto(1, (2,), 3, 0, 8, None)), "shard 3 of 1")
    _expect(_single_entry_table(tmp_path, b"\x12\x05ab"), "truncated protobuf")
    _expect(_single_entry_table(tmp_path, b"\x08\xff"), "a varint runs past the end")
    _expect(_single_entry_table(tmp_path, b"\x0b"), "wire type 3")


def test_table_without_header_is_not_a_bundle(tmp_path):
    (tmp_path / "t.index").write_bytes(w.table([(b"x", w.entry_proto(1, (2,), 0, 0, 8, None))]))
    _expect(tmp_path / "t", "no header entry")


def test_bad_restart_array(tmp_path):
    contents = struct.pack("<I", 0)  # a block that claims zero restart points
    trailer = bytes([0]) + struct.pack("<I", w.mask(w.crc32c(contents + bytes([0]))))
    footer = w.varint(0) + w.varint(4) + w.varint(0) + w.varint(4)
    raw = contents + trailer + footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", w.MAGIC)
    (tmp_path / "t.index").write_bytes(raw)
    _expect(tmp_path / "t", "bad restart array")


# ---------------------------------------------------------------- the real musicnn checkpoints
def test_musicnn_wheel_tables(musicnn_wheel):
    """The issue's counts: 151 table entries for MSD_musicnn and 87 for MSD_vgg, header and Adam slots included."""
    with zipfile.ZipFile(musicnn_wheel) as zf:
        for name, n_table, n_weights in (("MSD_musicnn", 151, 64), ("MSD_vgg", 87, 36)):
            index = zf.read(f"musicnn/{name}/.index")
            assert len(tfc.table_items(index)) == n_table
            _, entries = tfc.bundle_entries(index)
            assert sum(not tfc.is_optimizer_slot(k) for k in entries) == n_weights
