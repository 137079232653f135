"""Validate a bundle manifest before anything in the bundle is loaded (torch-free, no jsonschema).

`read_manifest_file` reads at most MAX_MANIFEST_BYTES, refuses NaN/Infinity and nesting deeper
than MAX_DEPTH, then `schema_errors` checks the document against manifest.schema.json (the schema
file is the single source of truth: this module interprets the subset of JSON Schema it uses and
refuses a schema that uses more), and `check_artifact_paths` keeps every artifact inside the
bundle. Every violation is one BundleError line.
"""

from __future__ import annotations

import json
import re
import stat
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from audioconcept.errors import BundleError

MAX_MANIFEST_BYTES = 10 * 1024 * 1024  # real manifests are < 100 kB
MAX_DEPTH = 32  # real manifests nest 6 deep

# keywords this interpreter implements; annotations are accepted and ignored
_KEYWORDS = {
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "propertyNames",
    "maxProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "$ref",
}
_ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description"}


@lru_cache(maxsize=1)
def manifest_schema() -> dict:
    schema = json.loads(resources.files("audioconcept.runtime").joinpath("manifest.schema.json").read_text())
    unknown = sorted(_schema_keywords(schema) - _KEYWORDS - _ANNOTATIONS)
    if unknown:  # a constraint that would be silently skipped: fail loudly, in the test suite first
        raise RuntimeError(f"manifest.schema.json uses {', '.join(unknown)}, which manifest_check does not implement")
    return schema


def _schema_keywords(s: Any) -> set[str]:
    out: set[str] = set()
    stack = [s]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        out |= set(node)
        for k, v in node.items():
            if k in ("properties", "$defs"):
                stack.extend(v.values())
            elif k in ("items", "additionalProperties", "propertyNames") and isinstance(v, dict):
                stack.append(v)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def read_manifest_file(p: Path) -> Any:
    """Parse a manifest with the size, finiteness and depth caps (BundleError otherwise)."""
    try:
        size = p.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise BundleError(f"{p}: {size / 1e6:.1f} MB is too large for a manifest (at most 10 MB)")
        with open(p, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as e:
        raise BundleError(f"{p}: cannot read the manifest ({e.strerror or type(e).__name__})") from None
    if len(raw) > MAX_MANIFEST_BYTES:  # grew after stat, or not a regular file
        raise BundleError(f"{p}: too large for a manifest (at most 10 MB)")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise BundleError(f"{p}: unreadable manifest (nested too deeply)") from None
    except UnicodeDecodeError:
        raise BundleError(f"{p}: unreadable manifest (not UTF-8 text)") from None
    except ValueError as e:  # JSONDecodeError is a ValueError
        raise BundleError(f"{p}: unreadable manifest ({str(e).splitlines()[0][:200]})") from None
    depth = _depth(doc)
    if depth > MAX_DEPTH:
        raise BundleError(f"{p}: manifest nests {depth} levels deep (at most {MAX_DEPTH})")
    return doc


def _depth(doc: Any) -> int:
    best, stack = 0, [(doc, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict | list):
            best = max(best, d)
            if d > MAX_DEPTH:
                return d
            children = node.values() if isinstance(node, dict) else node
            stack.extend((v, d + 1) for v in children if isinstance(v, dict | list))  # numbers end no deeper
    return best


def _is_type(x: Any, t: str) -> bool:
    if t == "null":
        return x is None
    if t == "boolean":
        return isinstance(x, bool)
    if t == "integer":  # JSON Schema: any number with a zero fractional part
        return not isinstance(x, bool) and (isinstance(x, int) or (isinstance(x, float) and x.is_integer()))
    if t == "number":
        return not isinstance(x, bool) and isinstance(x, int | float)
    if t == "string":
        return isinstance(x, str)
    if t == "array":
        return isinstance(x, list)
    if t == "object":
        return isinstance(x, dict)
    raise RuntimeError(f"manifest.schema.json: unknown type {t!r}")


def _json_name(x: Any) -> str:
    for t in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(x, t):
            return t
    return type(x).__name__


def _show(x: Any) -> str:
    s = json.dumps(x) if isinstance(x, str | int | float | bool) or x is None else _json_name(x)
    return s if len(s) <= 40 else s[:37] + "..."


def _equal(a: Any, b: Any) -> bool:
    """JSON equality (1 == 1.0, but True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _canon(x: Any) -> tuple:
    """A hashable key with JSON equality (1 == 1.0, True != 1), for uniqueItems in linear time."""
    if isinstance(x, bool) or x is None:
        return ("c", x)
    if isinstance(x, int | float):
        return ("n", float(x))
    if isinstance(x, str):
        return ("s", x)
    return ("j", json.dumps(x, sort_keys=True))


_NUMBER_LEAF_KEYS = frozenset({"type", "minimum", "maximum"})


def _plain_numbers_pass(doc: list, items: dict) -> bool:
    """True where `items` is a plain number schema (type number, at most a minimum and a maximum) and every item of
    `doc` is a JSON number within it: the weight and p-value arrays, a few thousand numbers a manifest, checked in one
    pass instead of one schema_errors call each (a cold run's start). False means: check item by item."""
    if items.get("type") != "number" or not items.keys() <= _NUMBER_LEAF_KEYS:
        return False
    if not all(type(x) is float or type(x) is int for x in doc):  # bool, None, str, numpy scalars: the slow path
        return False
    lo, hi = items.get("minimum"), items.get("maximum")
    return (lo is None or all(x >= lo for x in doc)) and (hi is None or all(x <= hi for x in doc))


def schema_errors(doc: Any, schema: dict | None = None, root: dict | None = None, at: str = "") -> list[str]:
    """Every violation of `schema` (default: the manifest schema) as 'path: what is wrong'."""
    root = root or schema or manifest_schema()
    s = schema if schema is not None else root
    where = at or "manifest"
    if "$ref" in s:
        ref = s["$ref"]
        if not ref.startswith("#/$defs/"):
            raise RuntimeError(f"manifest.schema.json: only local $defs references are supported ({ref})")
        return schema_errors(doc, root["$defs"][ref.removeprefix("#/$defs/")], root, at)
    errs: list[str] = []
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(_is_type(doc, t) for t in types):
            return [f"{where}: expected {' or '.join(types)}, got {_json_name(doc)} {_show(doc)}"]
    if "const" in s and not _equal(doc, s["const"]):
        errs.append(f"{where}: must be {_show(s['const'])}, got {_show(doc)}")
    if "enum" in s and not any(_equal(doc, v) for v in s["enum"]):
        errs.append(f"{where}: {_show(doc)} is not one of {', '.join(map(str, s['enum']))}")
    if _is_type(doc, "number"):
        if "minimum" in s and doc < s["minimum"]:
            errs.append(f"{where}: {_show(doc)} is below the minimum {s['minimum']}")
        if "maximum" in s and doc > s["maximum"]:
            errs.append(f"{where}: {_show(doc)} is above the maximum {s['maximum']}")
        if "exclusiveMinimum" in s and doc <= s["exclusiveMinimum"]:
            errs.append(f"{where}: {_show(doc)} must be greater than {s['exclusiveMinimum']}")
        if "exclusiveMaximum" in s and doc >= s["exclusiveMaximum"]:
            errs.append(f"{where}: {_show(doc)} must be less than {s['exclusiveMaximum']}")
    if isinstance(doc, str):
        if "minLength" in s and len(doc) < s["minLength"]:
            errs.append(f"{where}: shorter than {s['minLength']} character(s)")
        if "maxLength" in s and len(doc) > s["maxLength"]:
            errs.append(f"{where}: longer than {s['maxLength']} characters")
        if "pattern" in s and not re.search(s["pattern"], doc):
            errs.append(f"{where}: {_show(doc)} does not match {s['pattern']}")
    if isinstance(doc, list):
        if "minItems" in s and len(doc) < s["minItems"]:
            errs.append(f"{where}: needs at least {s['minItems']} items, has {len(doc)}")
        if "maxItems" in s and len(doc) > s["maxItems"]:
            errs.append(f"{where}: has {len(doc)} items, at most {s['maxItems']} allowed")
        if s.get("uniqueItems"):
            seen: set = set()
            for x in doc:
                if _canon(x) in seen:
                    errs.append(f"{where}: {_show(x)} appears more than once")
                    break
                seen.add(_canon(x))
        if isinstance(s.get("items"), dict) and not _plain_numbers_pass(doc, s["items"]):
            for i, x in enumerate(doc):
                errs += schema_errors(x, s["items"], root, f"{where}[{i}]")
    if isinstance(doc, dict):
        for k in s.get("required", ()):
            if k not in doc:
                errs.append(f"{where}: lacks {k!r}")
        if "maxProperties" in s and len(doc) > s["maxProperties"]:
            errs.append(f"{where}: has {len(doc)} entries, at most {s['maxProperties']} allowed")
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        for k, v in doc.items():
            if "propertyNames" in s and schema_errors(k, s["propertyNames"], root):
                errs.append(f"{where}: key {_show(k)} is not allowed (must match {s['propertyNames'].get('pattern')})")
            if k in props:
                errs += schema_errors(v, props[k], root, f"{where}.{k}")
            elif extra is False:
                errs.append(f"{where}: unexpected key {k!r}")
            elif isinstance(extra, dict):
                errs += schema_errors(v, extra, root, f"{where}.{k}")
    return errs


def inside_bundle(root: Path, rel: str) -> bool:
    """Is `rel` a relative path that stays inside `root`, links resolved?"""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or "\\" in rel or "\x00" in rel or any(part in ("..", "") for part in rel.split("/")):
        return False
    real_root = root.resolve()
    target = (root / rel).resolve()
    return target == real_root or real_root in target.parents


def check_artifact_paths(root: Path, m: dict, where: str) -> None:
    """Every artifact file is a relative path that stays inside the bundle, links resolved
    (and, for folders such as .mlpackage, every file below them too)."""
    for key, art in m["artifacts"].items():
        rel = art["file"]
        if not inside_bundle(root, rel):
            raise BundleError(f"{where}: artifacts.{key}.file {_show(rel)} points outside the bundle")
        p = root / rel
        if p.is_dir():
            for q in p.rglob("*"):
                if q.is_symlink() and not inside_bundle(root, str(q.relative_to(root))):
                    raise BundleError(f"{where}: {q.relative_to(root)} in artifacts.{key} links outside the bundle")
        check_hard_links(root, p, key, where)


PACKAGED_BUNDLES = Path(__file__).resolve().parent / "bundles"


def check_hard_links(root: Path, p: Path, key: str, where: str) -> None:
    """A file with more than one name may be a hard link to a file outside the bundle (an archive can carry one
    to any path, and no path check sees it). Our exports write each file once, so a user bundle whose artifact has
    other names is refused; the packaged bundles are exempt (a package manager may hard-link its cache)."""
    if PACKAGED_BUNDLES in root.resolve().parents:
        return
    files = [p] if not p.is_dir() else [q for q in p.rglob("*") if not q.is_symlink()]
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue  # missing: verify_artifact says so
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            raise BundleError(
                f"{where}: {f.relative_to(root)} in artifacts.{key} has {st.st_nlink} names (a hard link, maybe to a "
                "file outside the bundle); copy the bundle without links"
            )


def check_consistency(m: dict, where: str) -> None:
    """What the schema cannot say across fields."""
    n = len(m["labels"])
    for out in m.get("outputs", []):
        shape = out.get("shape") or []
        named = out.get("name") in ("logits", "probabilities")
        if named and len(shape) >= 2 and _is_type(shape[-1], "integer") and int(shape[-1]) != n:
            raise BundleError(f"{where}: {n} labels, but the manifest's {out['name']} output has {shape[-1]} classes")
    check_concept_thresholds(m, where)
    ws = m.get("window_samples")
    if ws is not None and abs(ws - m["window_s"] * m["sample_rate"]) > 1:
        raise BundleError(f"{where}: window_samples {ws} does not equal window_s x sample_rate")
    _check_concepts(m, where)
    gh = m.get("genre_heads") or {}
    for role in ("default", "reasons"):  # the heads a bundle names for a job are among its heads
        name = gh.get(role)
        if name is not None and name not in (gh.get("heads") or {}) and name != "embedding":
            raise BundleError(f"{where}: genre_heads.{role} names {_show(name)}, not one of its heads")
    for name, h in (gh.get("heads") or {}).items():
        _check_evidence(h, f"{where}: genre_heads.heads.{name}")
        _check_typical(h, m, f"{where}: genre_heads.heads.{name}")
    uses_mel = ("onnx_body" in m["artifacts"] and m.get("runtime_frontend", "numpy") == "numpy") or (
        "executorch" in m["artifacts"]
    )
    if uses_mel and not isinstance(m.get("frontend"), dict):
        raise BundleError(f"{where}: the bundle runs a numpy front end but its manifest has no frontend settings")


def _check_evidence(h: dict, where: str) -> None:
    """A head that says its weights passed an evidence test has one p-value per weight, and a non-zero weight only
    where p < alpha: a reason the data does not support cannot ride in on a manifest edit."""
    e = h.get("evidence")
    if not isinstance(e, dict):
        return
    w, pv = h["weights"], e["p"]
    if len(pv) != len(w) or any(len(a) != len(b) for a, b in zip(pv, w, strict=False)):
        raise BundleError(f"{where}: evidence.p must have the shape of the weights")
    for a, b in zip(pv, w, strict=False):
        for pk, wk in zip(a, b, strict=False):
            if wk != 0 and pk >= e["alpha"]:
                raise BundleError(f"{where}: weight {_show(wk)} where its evidence test gave p {_show(pk)} >= alpha")


def _check_typical(h: dict, m: dict, where: str) -> None:
    """A head's `typical` concepts are the bundle's own concepts, typical of its own genres, by at least the rule's
    effect: a manifest edit cannot make "metal typical: happy" appear beside the reasons."""
    t = h.get("typical")
    if not isinstance(t, dict):
        return
    names = set((m.get("concepts") or {}).get("names") or ())
    floor = t.get("min_effect", 0.5)
    for genre, effects in (t.get("effect") or {}).items():
        if genre not in m["labels"]:
            raise BundleError(f"{where}: typical.effect names {_show(genre)}, not one of the labels")
        for c, e in effects.items():
            if c not in names:
                raise BundleError(f"{where}: typical.effect.{genre} names {_show(c)}, not one of the concepts")
            if e < floor:
                raise BundleError(f"{where}: typical.effect.{genre}.{c} is {_show(e)}, under its min_effect")


def check_concept_thresholds(m: dict, where: str) -> None:
    """A thresholds list has one number in [0, 1] per concept name (the runtime pairs them by position)."""
    c = m.get("concepts")
    if not isinstance(c, dict) or c.get("thresholds") is None:
        return
    names, thr = c.get("names") or [], c["thresholds"]
    if not isinstance(thr, list) or len(thr) != len(names):
        n = len(thr) if isinstance(thr, list) else _json_name(thr)
        raise BundleError(f"{where}: concepts.thresholds has {n} entries for {len(names)} concept names")
    for t in thr:
        if not (_is_type(t, "number") and 0 <= t <= 1):
            raise BundleError(f"{where}: concepts.thresholds holds {_show(t)}; thresholds are numbers in [0, 1]")


def _check_concepts(m: dict, where: str) -> None:
    """Concept probes, validation records and the distance to training: shapes that agree, names that exist."""
    c = m.get("concepts") or {}
    names = set(c.get("names") or ())
    p = c.get("probes")
    if p and p["names"]:
        k = len(p["names"])
        widths = {len(row) for row in p["weights"]}
        if len(p["weights"]) != k or len(p["bias"]) != k or len(widths) != 1:
            raise BundleError(
                f"{where}: concepts.probes: {k} names, {len(p['weights'])} weight rows of widths "
                f"{sorted(widths)}, {len(p['bias'])} biases"
            )
        missing = [n for n in p["names"] if n not in names]
        if missing:
            raise BundleError(f"{where}: concepts.probes names {', '.join(missing[:3])}, which concepts.names lacks")
    v = c.get("validation") or {}
    unknown = [n for n in v if n not in names]
    if unknown:
        raise BundleError(f"{where}: concepts.validation names {', '.join(unknown[:3])}, which concepts.names lacks")
    for n, r in v.items():
        if r.get("source") == "probe" and n not in ((p or {}).get("names") or ()):
            raise BundleError(f"{where}: concept {n!r} rests on a probe, but concepts.probes has none for it")
    o = m.get("ood")
    if o:
        d = len(o["mean"])
        if len(o["scale"]) != d or any(len(row) != d for row in o["train"]):
            raise BundleError(f"{where}: ood: mean, scale and every training point must have the same width ({d})")


def validate_manifest(doc: Any, root: Path, where: str) -> dict:
    """Schema (with bounds), artifact paths and cross-field checks -> the manifest, or one BundleError."""
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: manifest is not a JSON object")
    v = doc.get("schema_version")
    if v != 1:  # before anything else: a newer bundle should say so, not list every difference
        raise BundleError(f"{where}: manifest schema_version {v!r} is not supported (this runtime reads 1)")
    errs = schema_errors(doc)
    if errs:
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise BundleError(f"{where}: invalid manifest: {errs[0]}{more}")
    check_artifact_paths(root, doc, where)
    check_consistency(doc, where)
    return doc
