"""Manifest validation: every mutation from the issue ends in one BundleError line before anything
is loaded, nothing outside the bundle is read, and the hand-written validator agrees with
jsonschema on manifest.schema.json."""

import copy
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept.errors import BundleError
from audioconcept.runtime import bundle as bundle_mod
from audioconcept.runtime.manifest_check import MAX_DEPTH, manifest_schema, schema_errors
from audioconcept.runtime.model import load
from audioconcept.runtime.registry import packaged_bundles
from tests.payloads import assert_one_line_error, run_cli

SVM = packaged_bundles()["svm-gtzan"]
CNN = packaged_bundles()["cnn-synth"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit(b: Path, change) -> Path:
    m = json.loads((b / "manifest.json").read_text())
    change(m)
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def spy(monkeypatch):
    """Every path hashed or handed to onnxruntime while loading."""
    import onnxruntime as ort

    seen: list[Path] = []
    real_hash, real_session = bundle_mod.sha256_tree, ort.InferenceSession

    def hashed(p):
        seen.append(Path(p).resolve())
        return real_hash(p)

    def session(path, *a, **k):
        seen.append(Path(path).resolve())
        return real_session(path, *a, **k)

    monkeypatch.setattr(bundle_mod, "sha256_tree", hashed)
    monkeypatch.setattr(ort, "InferenceSession", session)
    return seen


def _refused(b: Path, match: str, spy=None) -> str:
    with pytest.raises(BundleError, match=match) as e:
        load(b)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400, msg
    if spy is not None:
        root = b.resolve()
        assert all(root in p.parents for p in spy), spy
    return msg


def _set(path: str, value):
    def change(m):
        *parents, last = path.split(".")
        node = m
        for k in parents:
            node = node[k]
        node[last] = value

    return change


def _delete(path: str):
    def change(m):
        *parents, last = path.split(".")
        node = m
        for k in parents:
            node = node[k]
        del node[last]

    return change


MUTATIONS = {
    "labels as a string": (_set("labels", "blues,rock"), "labels: expected array"),
    "one label": (_set("labels", ["blues"]), "at least 2"),
    "duplicate labels": (_set("labels", ["a"] * 10), "more than once"),
    "labels not strings": (_set("labels", list(range(10))), r"labels\[0\]: expected string"),
    "labels count differs from the outputs": (_set("labels", [f"g{i}" for i in range(11)]), "11 labels"),
    "window_s 0": (_set("window_s", 0), "window_s: 0 must be greater than 0"),
    "window_s negative": (_set("window_s", -3), "window_s"),
    "window_s text": (_set("window_s", "abc"), "window_s: expected number"),
    "window_s a week": (_set("window_s", 604800), "above the maximum"),
    "window_s true": (_set("window_s", True), "window_s: expected number"),
    "hop_s 0": (_set("hop_s", 0), "hop_s"),
    "sample_rate 0": (_set("sample_rate", 0), "sample_rate: 0 is below the minimum 1000"),
    "sample_rate 1 Hz": (_set("sample_rate", 1), "sample_rate"),
    "sample_rate 10 MHz": (_set("sample_rate", 10_000_000), "above the maximum"),
    "sample_rate fractional": (_set("sample_rate", 22050.5), "expected integer"),
    "window_samples inconsistent": (_set("window_samples", 12345), "window_samples"),
    "artifacts as a list": (_set("artifacts", [{"file": "model.onnx"}]), "artifacts: expected object"),
    "artifact as a list": (_set("artifacts.onnx", ["model.onnx"]), "artifacts.onnx: expected object"),
    "artifact without file": (_delete("artifacts.onnx.file"), "artifacts.onnx: lacks 'file'"),
    "artifact without sha256": (_delete("artifacts.onnx.sha256"), "lacks 'sha256'"),
    "sha256 not hex": (_set("artifacts.onnx.sha256", "xyz"), "does not match"),
    "file a number": (_set("artifacts.onnx.file", 5), "file: expected string"),
    "artifact key with a path": (
        lambda m: m["artifacts"].update({"../x": m["artifacts"]["onnx"]}),
        r'key "\.\./x" is not allowed',
    ),
    "unknown arch": (_set("arch", "tensorflow"), "not one of"),
    "schema_version 2": (_set("schema_version", 2), "schema_version 2 is not supported"),
    "name empty": (_set("name", ""), "name: shorter"),
    "metrics.test a number": (_set("metrics.test", 5), "metrics.test: expected object or null"),
    "no labels": (_delete("labels"), "lacks 'labels'"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_manifest_mutations_give_one_line(tmp_path, name, spy):
    change, match = MUTATIONS[name]
    b = _edit(_copy(SVM, tmp_path / "b"), change)
    _refused(b, match, spy)


@pytest.mark.parametrize(
    "change,match",
    [
        (_set("frontend.n_fft", 0), "n_fft: 0 is below"),
        (_set("frontend.hop_length", "512"), "hop_length: expected integer"),
        (_set("concepts.names", "loud"), "concepts.names: expected array"),
        (_set("outputs", [{"name": "logits", "shape": ["batch", 9], "dtype": "float32"}]), "9 classes"),
        (_set("runtime_frontend", "gpu"), "runtime_frontend"),
        (lambda m: m["concepts"]["thresholds"].pop(), "12 entries for 13 concept names"),
        (lambda m: m["concepts"]["thresholds"].append(0.5), "14 entries for 13 concept names"),
        (_set("concepts.thresholds", []), "0 entries for 13"),
        (lambda m: m["concepts"]["thresholds"].__setitem__(0, 5), "holds 5"),
        (lambda m: m["concepts"]["thresholds"].__setitem__(0, "x"), 'holds "x"'),
        (_set("hop_s", 1e-9), "hop_s"),
    ],
)
def test_cnn_manifest_mutations(tmp_path, change, match):
    _refused(_edit(_copy(CNN, tmp_path / "b"), change), match)


@pytest.mark.parametrize("role", ["default", "reasons"])
def test_a_genre_head_named_for_a_job_must_exist(tmp_path, role):
    tagger = packaged_bundles()["musicnn-gtzan"]
    _refused(_edit(_copy(tagger, tmp_path / "b"), _set(f"genre_heads.{role}", "nope")), f"genre_heads.{role} names")


def test_artifact_paths_stay_inside_the_bundle(tmp_path, spy):
    outside = tmp_path / "outside.onnx"
    shutil.copy(SVM / "model.onnx", outside)
    sha = _sha(outside)
    cases = {
        "absolute": "/etc/passwd",
        "absolute onnx": str(outside),
        "parent": "../outside.onnx",
        "hidden parent": "sub/../../outside.onnx",
        "backslash": "..\\outside.onnx",
        "empty part": "sub//model.onnx",
    }
    for i, (label, file) in enumerate(cases.items()):
        real = _sha(Path(file)) if file == "/etc/passwd" and Path(file).exists() else sha
        b = _edit(
            _copy(SVM, tmp_path / f"b{i}"), lambda m, f=file, s=real: m["artifacts"]["onnx"].update(file=f, sha256=s)
        )
        msg = _refused(b, "outside the bundle", spy)
        assert label and "artifacts.onnx.file" in msg
    # a symlink inside the bundle that leaves it, with the real sha of its target
    b = _copy(SVM, tmp_path / "link")
    (b / "model.onnx").unlink()
    (b / "model.onnx").symlink_to(outside)
    _refused(_edit(b, lambda m: m["artifacts"]["onnx"].update(sha256=sha)), "outside the bundle", spy)
    assert not spy or all(p != outside.resolve() for p in spy)


def test_hard_link_to_a_file_outside_the_bundle_is_refused(tmp_path, spy):
    """An archive can carry a hard link to any path; no path check sees it, its link count does."""
    outside = tmp_path / "outside.onnx"
    shutil.copy(SVM / "model.onnx", outside)
    b = _copy(SVM, tmp_path / "b")
    (b / "model.onnx").unlink()
    os.link(outside, b / "model.onnx")
    _refused(b, "hard link", spy)
    (b / "model.onnx").unlink()  # a plain copy of the same bytes is fine
    shutil.copy(outside, b / "model.onnx")
    load(b)


def test_link_inside_a_folder_artifact_is_refused(tmp_path):
    b = _copy(SVM, tmp_path / "b")
    pkg = b / "model.mlpackage"
    pkg.mkdir()
    (pkg / "weights").symlink_to("/etc/passwd")
    entry = {"file": "model.mlpackage", "sha256": "0" * 64, "size_bytes": 1, "input": "waveform"}
    _refused(_edit(b, lambda m: m["artifacts"].update(coreml=entry)), "links outside the bundle")


def test_deep_huge_and_non_finite_manifests(tmp_path):
    deep = _copy(SVM, tmp_path / "deep")
    (deep / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    _refused(deep, "nested too deeply")
    shallow_but_deep = _copy(SVM, tmp_path / "deep2")
    (shallow_but_deep / "manifest.json").write_text('{"a": ' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}")
    _refused(shallow_but_deep, "levels deep")
    huge = _copy(SVM, tmp_path / "huge")
    with open(huge / "manifest.json", "r+b") as f:  # 300 MB without writing 300 MB: refused before reading
        f.truncate(300 * 1024 * 1024)
    _refused(huge, "too large for a manifest")
    nan = _edit(_copy(SVM, tmp_path / "nan"), _set("window_s", float("nan")))
    _refused(nan, "NaN is not a valid JSON number")
    for i, raw in enumerate([b"\xff\xfe garbage", b"[1, 2, 3]", b'"a string"', b"{", b""]):
        b = _copy(SVM, tmp_path / f"raw{i}")
        (b / "manifest.json").write_bytes(raw)
        _refused(b, "manifest")


def test_new_keys_are_accepted(tmp_path):
    """Other work adds artifact keys and top-level fields: those need no change here."""

    def change(m):
        m["artifacts"]["onnx_future"] = dict(m["artifacts"]["onnx"])
        m["something_new"] = {"deep": [1, 2, {"x": None}]}

    b = _edit(_copy(SVM, tmp_path / "b"), change)
    assert load(b).labels[0] == "blues"


def test_packaged_bundles_validate_both_ways():
    import jsonschema

    for root in packaged_bundles().values():
        m = bundle_mod.read_manifest(root)
        jsonschema.validate(m, manifest_schema())
        assert schema_errors(m) == []


def test_schema_arch_enum_is_the_runtime_table():
    # the arch list lives in one place: the schema file the runtime reads
    assert {"cnn", "vggish", "svm"} <= set(manifest_schema()["properties"]["arch"]["enum"])


# ---------------------------------------------------------------- agreement with jsonschema


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            yield from _paths(v, (*prefix, i))


def _slim(x, keep: int = 8):
    """Every list cut to its first `keep` items: the schema says nothing about how long an array of weights is (the
    lengths are checked across fields, after it), so the mutations reach every kind of node while each check reads
    kilobytes instead of the default bundle's 0.4 MB of head and probe weights."""
    if isinstance(x, list):
        return [_slim(v, keep) for v in x[:keep]]
    if isinstance(x, dict):
        return {k: _slim(v, keep) for k, v in x.items()}
    return x


BASES = {n: _slim(json.loads((p / "manifest.json").read_text())) for n, p in packaged_bundles().items()}
PATHS = [(n, p) for n, m in BASES.items() for p in _paths(m) if p]


def _apply(m, path, value, delete):
    node = m
    for k in path[:-1]:
        node = node[k]
    if delete:
        if isinstance(node, dict):
            del node[path[-1]]
        else:
            node.pop(path[-1])
    else:
        node[path[-1]] = value


def test_validator_agrees_with_jsonschema_on_random_mutations():
    import jsonschema
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    validator = jsonschema.Draft202012Validator(manifest_schema())
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**9), 10**12),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.sampled_from([0, 1, 1.0, 22050, 22050.0, 30.0, -1, "", "a", "cnn", "svm", "musicnn", "0" * 64]),
        st.text(max_size=8),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(["file", "sha256", "x", "names"]), inner, max_size=3),
        ),
        max_leaves=6,
    )

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.sampled_from(PATHS), values, st.booleans())
    def check(target, value, delete):
        name, path = target
        m = copy.deepcopy(BASES[name])
        _apply(m, path, value, delete)
        ours = schema_errors(m)
        theirs = list(validator.iter_errors(m))
        assert bool(ours) == bool(theirs), (path, value, delete, ours[:2], [e.message for e in theirs[:2]])

    check()


def test_cli_refuses_bad_manifests_in_one_line(tmp_path):
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros(22050, np.float32), 22050)
    cases = {
        "outside": (lambda m: m["artifacts"]["onnx"].update(file="/etc/passwd"), "outside the bundle"),
        "labels": (_set("labels", "blues"), "labels: expected array"),
        "window": (_set("window_s", 0), "window_s"),
    }
    for name, (change, match) in cases.items():
        b = _edit(_copy(SVM, tmp_path / name), change)
        assert_one_line_error(run_cli("run", str(song), "--model", str(b)), contains=match)
    deep = _copy(SVM, tmp_path / "deep")
    (deep / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    assert_one_line_error(run_cli("run", str(song), "--model", str(deep)), contains="nested too deeply")


def _lift_a_weight_the_evidence_refused(m):
    h = m["genre_heads"]["heads"]["validated"]
    g, f = next(
        (g, f) for g, row in enumerate(h["evidence"]["p"]) for f, p in enumerate(row) if p >= h["evidence"]["alpha"]
    )
    h["weights"][g][f] = 0.5


@pytest.mark.parametrize(
    "change,match",
    [
        (_lift_a_weight_the_evidence_refused, "where its evidence test gave p"),
        (lambda m: m["genre_heads"]["heads"]["validated"]["evidence"]["p"].pop(), "shape of the weights"),
        (_set("genre_heads.heads.validated.evidence.alpha", 0), "alpha"),
    ],
)
def test_a_reason_the_evidence_refused_cannot_ride_in_on_a_manifest_edit(tmp_path, change, match):
    tagger = packaged_bundles()["musicnn-gtzan"]
    m = json.loads((tagger / "manifest.json").read_text())
    h = m["genre_heads"]["heads"]["validated"]
    W, pv = np.asarray(h["weights"]), np.asarray(h["evidence"]["p"])
    alpha = h["evidence"]["alpha"]
    assert np.all(W[pv >= alpha] == 0.0) and (W > 0).any()  # the packaged head keeps its evidence
    _refused(_edit(_copy(tagger, tmp_path / "b"), change), match)


def test_long_number_arrays_are_checked_in_one_pass_and_still_name_the_bad_item():
    """The weight and p-value arrays (thousands of numbers) pass in one sweep; a bad number anywhere in them is still
    reported at its own index, as the item-by-item check and jsonschema report it."""
    import jsonschema

    from audioconcept.runtime import manifest_check as mc

    m = json.loads((packaged_bundles()["musicnn-gtzan"] / "manifest.json").read_text())
    head = m["genre_heads"]["heads"]["validated"]
    assert mc.schema_errors(m) == []
    calls = []
    real = mc.schema_errors
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mc, "schema_errors", lambda *a, **k: calls.append(1) or real(*a, **k))
        mc.schema_errors(m)
    assert len(calls) < 5000  # one call per number would be tens of thousands
    validator = jsonschema.Draft202012Validator(manifest_schema())
    last = len(head["weights"][-1]) - 1
    for field, index, bad, says in [
        ("weights", (-1, last), "x", "expected number, got string"),
        ("weights", (0, 0), True, "expected number, got boolean"),
        ("weights", (3, 2), None, "expected number, got null"),
        ("p", (9, 1), 1.5, "is above the maximum 1"),
        ("p", (0, last), -0.01, "is below the minimum 0"),
    ]:
        doc = copy.deepcopy(m)
        node = doc["genre_heads"]["heads"]["validated"]
        node = node["evidence"] if field == "p" else node
        row = node[field][index[0]]
        row[index[1]] = bad
        errs = mc.schema_errors(doc)
        i, j = index[0] % len(node[field]), index[1] % len(row)
        assert len(errs) == 1 and f"{field}[{i}][{j}]: " in errs[0] and says in errs[0], errs
        assert len(list(validator.iter_errors(doc))) == 1
