"""Check a bundle's ONNX graph before onnxruntime builds a session from it (torch-free, no `onnx` package).

A bundle comes from strangers as a checkpoint does; its sha256 only proves that the file is the one its
(equally untrusted) manifest names. onnxruntime will run whatever the graph says: a Loop of 10^12
iterations, an Expand to 10^9 elements. So, reading the protobuf wire format directly (a few ms for our
graphs), `check_graph` refuses with one BundleError line:

- an op outside `ALLOWED_OPS`, the ops our exports produce (`tools/survey_onnx_ops.py` lists them; a test
  exports every format and checks it against this table);
- subgraphs (Loop, Scan and If carry them; ours have none), model-local functions, training info, and
  tensors whose data lives in an external file (which onnxruntime would read from any path);
- an initialiser or a Constant larger than MAX_TENSOR_ELEMENTS, and a constant shape target of Expand,
  ConstantOfShape, Tile or Reshape that asks for more than MAX_TENSOR_ELEMENTS elements.

Shapes computed while the graph runs cannot be bounded here: the session's memory arena is (see
`backends.OnnxBackend`). Verdicts are cached: per file in a process, and across processes per verified sha256 and
checker version (a marker file under the cache folder), so a cold start does not parse a graph it has seen.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

from audioconcept.errors import BundleError

# (domain, op_type) pairs found in every graph our exports write: the CNN and VGGish full graphs, bodies, int8 QDQ
# graphs and CoreML-EP graphs; musicnn's; the SVM's skl2onnx graph (ai.onnx.ml); the packaged bundles.
_OPS = {
    "": (
        "Abs Add ArgMax BatchNormalization Cast Clip Concat Conv DequantizeLinear Div Exp GatherND Gemm Identity "
        "Less Log MatMul MaxPool Mul Neg Not Pow QuantizeLinear ReduceMax ReduceMean ReduceSum Relu Reshape Resize "
        "Shape Sigmoid Slice Softmax Sqrt Sub Sum Transpose Unsqueeze Where"
    ),
    "ai.onnx.ml": "ArrayFeatureExtractor SVMClassifier",
}

MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024  # 256 MB of float32; our largest tensor is far below
MAX_NODES = 100_000
MAX_DIMS = 16

# graph-level fields that hold or point to code or data we do not read
_REFUSED_MODEL_FIELDS = {20: "training info", 25: "model-local functions"}
_GRAPH_OPS = {"Loop", "Scan", "If", "SequenceMap"}  # the ops whose attributes hold subgraphs (none of ours)
_SHAPE_INPUT = {"Expand": 1, "ConstantOfShape": 0, "Tile": 1, "Reshape": 1}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_INT64, _INT32 = 7, 6  # TensorProto.DataType


ALLOWED_OPS: frozenset[tuple[str, str]] = frozenset((d, op) for d, ops in _OPS.items() for op in ops.split())


class _Bad(Exception):
    """A problem in the graph, turned into one BundleError line by check_graph."""


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    if i < len(buf) and buf[i] < 0x80:  # most keys and lengths: one byte
        return buf[i], i + 1
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Bad("truncated or malformed protobuf")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _run_of_fixed32(buf: memoryview, i: int, key: int) -> int:
    """Where a run of unpacked 32-bit values under the one-byte `key` ends, from the value at `i` (numpy: the
    SVM's support vectors are ~10^5 such floats, too many to step through one by one)."""
    import numpy as np

    rest = np.frombuffer(buf, np.uint8, offset=i + 4)
    keys = rest[::5][: (rest.size + 4) // 5]
    off = int(np.argmax(keys != key)) if (keys != key).any() else keys.size
    return min(len(buf), i + 4 + 5 * off)


def _fields(buf: memoryview):
    """(field number, wire type, value): an int for varints and fixed-width fields, a memoryview for the rest.
    A long run of unpacked 32-bit values (repeated float attributes) is yielded as one (field, 5, None)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 5 and key < 0x80 and i + 9 <= n and buf[i + 4] == key:
            i = _run_of_fixed32(buf, i, key)
            yield field, wire, None
            continue
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            if i + 8 > n:
                raise _Bad("truncated protobuf")
            v, i = int.from_bytes(buf[i : i + 8], "little"), i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > n:
                raise _Bad("truncated protobuf")
            v, i = buf[i : i + size], i + size
        elif wire == 5:
            if i + 4 > n:
                raise _Bad("truncated protobuf")
            v, i = int.from_bytes(buf[i : i + 4], "little"), i + 4
        else:
            raise _Bad(f"protobuf wire type {wire} is not used by ONNX")
        yield field, wire, v


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(wire: int, v) -> list[int]:
    """A repeated int64 field, packed (one length-delimited run) or not."""
    if wire == 0:
        return [_signed(v)]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(_signed(x))
    return out


def _text(v) -> str:
    return bytes(v).decode("utf-8", "replace")


class _Tensor:
    __slots__ = ("name", "dims", "dtype", "values", "external")

    def __init__(self, buf: memoryview) -> None:
        self.name, self.dims, self.dtype, self.values, self.external = "", [], 0, None, False
        raw = None
        ints: list[int] = []
        for f, w, v in _fields(buf):
            if f == 1:
                self.dims += _ints(w, v)
            elif f == 2:
                self.dtype = v
            elif f == 8:
                self.name = _text(v)
            elif f == 9:
                raw = v
            elif f in (5, 7):  # int32_data, int64_data
                ints += _ints(w, v)
            elif f == 13 or (f == 14 and v == _EXTERNAL):
                self.external = True
        if len(self.dims) > MAX_DIMS:
            raise _Bad(f"tensor {self.name!r} has {len(self.dims)} dimensions")
        if any(d < 0 for d in self.dims):
            raise _Bad(f"tensor {self.name!r} has a negative dimension")
        if self.elements() > MAX_TENSOR_ELEMENTS:
            raise _Bad(f"tensor {self.name!r} declares {self.elements():,} elements (at most {MAX_TENSOR_ELEMENTS:,})")
        if self.dtype in (_INT64, _INT32) and len(self.dims) <= 1 and self.elements() <= MAX_DIMS:
            if raw is not None:
                size = 8 if self.dtype == _INT64 else 4
                if len(raw) == size * self.elements():
                    self.values = list(struct.unpack(f"<{self.elements()}{'q' if size == 8 else 'i'}", raw))
            elif len(ints) == self.elements():
                self.values = ints

    def elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


def _node(buf: memoryview) -> tuple[str, str, list[str], list[str], _Tensor | None]:
    """-> (domain, op_type, inputs, outputs, the Constant's value tensor or None)."""
    domain, op, inputs, outputs, value = "", "", [], [], None
    attributes = []
    for f, _, v in _fields(buf):
        if f == 1:
            inputs.append(_text(v))
        elif f == 2:
            outputs.append(_text(v))
        elif f == 4:
            op = _text(v)
        elif f == 7:
            domain = _text(v)
        elif f == 5:
            attributes.append(v)
    # attributes are read only where they matter (parsing every one cost more than the rest of the graph): the ops
    # that carry subgraphs, and Constant's value
    if op in _GRAPH_OPS or op == "Constant":
        for v in attributes:
            for af, _, av in _fields(v):
                if af in (6, 11):  # g, graphs: a subgraph
                    raise _Bad(f"node {op} carries a subgraph")
                if af == 5:
                    value = _Tensor(av)
    return ("" if domain == "ai.onnx" else domain), op, inputs, outputs, value


def _target_elements(op: str, t: _Tensor) -> int | None:
    """Elements a constant shape target asks for (None: not a plain list of dims)."""
    if t.values is None:
        return None
    # Reshape: 0 copies a dim and -1 is inferred, so bound the explicit ones
    dims = [d for d in t.values if d > 0] if op == "Reshape" else t.values
    if any(d < 0 for d in dims):
        return None
    n = 1
    for d in dims:
        n *= d
    return n


def graph_problems(data: bytes | memoryview) -> str | None:
    """The first reason to refuse this serialized ONNX model, or None."""
    try:
        graph = None
        for f, _, v in _fields(memoryview(data)):
            if f in _REFUSED_MODEL_FIELDS:
                return f"the model holds {_REFUSED_MODEL_FIELDS[f]}, which our exports never write"
            if f == 7:
                graph = v
        if graph is None:
            return "no graph in the file"
        consts: dict[str, _Tensor] = {}
        nodes = []
        for f, _, v in _fields(graph):
            if f == 5:
                t = _Tensor(v)
                if t.external:
                    return f"initialiser {t.name!r} keeps its data in an external file"
                consts[t.name] = t
            elif f == 15:
                return "the graph holds sparse initialisers, which our exports never write"
            elif f == 1:
                nodes.append(_node(v))
                if len(nodes) > MAX_NODES:
                    return f"more than {MAX_NODES:,} nodes"
        for domain, op, _, outputs, value in nodes:
            if (domain, op) not in ALLOWED_OPS:
                shown = f"{domain}:{op}" if domain else op
                return f"op {shown[:80]!r} is not one our exports produce"
            if op == "Constant" and value is not None and outputs:
                if value.external:
                    return "a Constant keeps its data in an external file"
                consts[outputs[0]] = value
        for _, op, inputs, _, _ in nodes:
            k = _SHAPE_INPUT.get(op)
            if k is None or len(inputs) <= k or inputs[k] not in consts:
                continue
            n = _target_elements(op, consts[inputs[k]])
            if n is not None and n > MAX_TENSOR_ELEMENTS:
                return f"{op} asks for {n:,} elements (at most {MAX_TENSOR_ELEMENTS:,})"
    except _Bad as e:
        return str(e)
    return None


@lru_cache(maxsize=64)
def _checked(path: str, size: int, mtime_ns: int, ino: int) -> str | None:
    with open(path, "rb") as f:
        return graph_problems(f.read())


@lru_cache(maxsize=1)
def checker_version() -> str:
    """Changes whenever what the check accepts changes (the allowlist, the bounds), so old verdicts lapse."""
    import hashlib

    spec = repr((sorted(ALLOWED_OPS), MAX_TENSOR_ELEMENTS, MAX_NODES, MAX_DIMS, sorted(_SHAPE_INPUT.items()), 1))
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _verdict_file(sha256: str) -> Path:
    from audioconcept.utils import cache_root

    return cache_root() / "graph-check" / checker_version() / sha256


def check_graph(path: str | Path, where: str | None = None, sha256: str | None = None) -> None:
    """One BundleError line when the ONNX file at `path` is not a graph our exports could have written.

    `sha256`: the file's hash, already checked against the file (open_bundle's verify). A graph with that hash that
    passed this version of the check before, in any process, is not parsed again (a marker file under the cache
    folder): a cold start pays a stat, not the parse."""
    p = Path(path)
    if sha256 is not None and _verdict_file(sha256).is_file():
        return
    try:
        st = p.stat()
        why = _checked(str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError as e:
        raise BundleError(f"{where or p}: cannot read the ONNX model ({e.strerror or type(e).__name__})") from None
    if why:
        raise BundleError(f"{where or p}: refused ONNX model: {why}")
    if sha256 is not None:
        try:
            marker = _verdict_file(sha256)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:  # a read-only cache: the check runs again next time
            pass
