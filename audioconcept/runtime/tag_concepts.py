"""A tagger bundle's tags as clean concepts, and its linear genre heads split into named contributions.

Everything here reads the manifest (`concepts` of kind "tags", `genre_heads`); torch-free.

- `TagVocabulary` turns the graph's concept output (one probability per source tag, e.g. "MSD:female
  vocalists", "MTT:woman") into clean concepts ("female voice"): a concept's strength is its strongest
  source tag.
- `GenreHead` is one linear head on the tags: logits = W x + b = intercept + W (x - reference), where x is
  the head's input: the tag probabilities p themselves, or their log-odds log(p / (1 - p)) for a head fitted
  on them (`"transform": "logodds"`: a probability near 0 or 1 still moves it). Its `contributions` split
  every genre logit exactly into one term per clean concept (the sum of its source tags' terms), so "jazz:
  piano +0.6, trumpet +0.4 ..." adds up, with the intercept, to the jazz logit. A song's input is the mean
  of its windows' inputs (`song=True`), so a song's logits are the mean of its windows', and so are its
  contributions.
- A bundle may name a second head for the reasons (`genre_heads.reasons`): the concept bottleneck on the
  validated musical concepts, with non-negative weights, so that every reason is "more of a concept the
  genre has", while the genres come from the more accurate default head (`SongSettings.reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from audioconcept.errors import AudioConceptError
from audioconcept.models.tag_concepts import base_concept

# a concept present in the song speaks for a genre when it adds at least this to the genre's logit: a smaller
# share (shown as "+0.00") is no reason a listener could hear (the web page's aggregate.js keeps the same value)
REASON_MIN = 0.005


@dataclass(frozen=True)
class TagVocabulary:
    outputs: tuple[str, ...]  # source tags, in the order of the graph's concept output
    names: tuple[str, ...]  # clean concepts
    members: tuple[tuple[int, ...], ...]  # output indices of each concept
    genre_named: tuple[bool, ...]
    categories: tuple[str, ...]
    n_graph: int = -1  # outputs the graph computes (its tags); the rest are concept probes' (-1: all)
    statuses: tuple[str, ...] = ()  # validation status per concept (runtime.concept_probes.STATUSES)

    @classmethod
    def from_manifest(cls, m: dict) -> TagVocabulary | None:
        from audioconcept.runtime.concept_probes import ConceptProbes, status_of, validation_of

        c = m.get("concepts") or {}
        if c.get("kind") != "tags":
            return None
        probes = ConceptProbes.from_manifest(m)
        graph = tuple(c["outputs"])
        validation = validation_of(m)
        return cls(
            graph + (probes.outputs if probes is not None else ()),
            tuple(c["names"]),
            tuple(tuple(int(i) for i in mem) for mem in c["members"]),
            tuple(bool(g) for g in c["genre_named"]),
            tuple(c.get("categories") or [""] * len(c["names"])),
            len(graph),
            tuple(status_of(validation, n) for n in c["names"]) if validation else (),
        )

    @property
    def graph_outputs(self) -> int:
        return len(self.outputs) if self.n_graph < 0 else self.n_graph

    def may_be_present(self, k: int) -> bool:
        """A concept that failed validation is shown, marked, and never called present."""
        return not self.statuses or self.statuses[k] != "failed"

    def merge(self, tag_probs: np.ndarray, axis: int = -1) -> np.ndarray:
        """Tag probabilities along `axis` -> concept strengths along it (each concept's strongest tag)."""
        p = np.moveaxis(np.asarray(tag_probs), axis, -1)
        out = np.stack([p[..., list(mem)].max(axis=-1) for mem in self.members], axis=-1)
        return np.moveaxis(out, -1, axis)

    def concept_of_outputs(self) -> np.ndarray:
        """(n_outputs,) the clean concept index of every source tag."""
        of = np.full(len(self.outputs), -1)
        for k, mem in enumerate(self.members):
            of[list(mem)] = k
        return of

    @cached_property
    def index(self) -> dict[str, int]:
        """Concept name -> its index, derived once (the fold and each explanation's `typical` read it)."""
        return {n: k for k, n in enumerate(self.names)}

    @cached_property
    def folded(self) -> dict[int, int]:
        """Displaced tag concept -> its concept: where a concept moved to its probe and its musicnn tags stayed
        behind as "<name> (musicnn tag)" (concepts.validated), and both passed their validation, the two are one
        idea heard by two detectors, and a head's reasons give it once. A detector that failed or was never
        validated is not folded into a reason (it keeps its own row and mark)."""
        if not self.statuses:
            return {}
        out = {}
        for k, n in enumerate(self.names):
            b = self.index.get(base_concept(n), k)
            if b != k and self.statuses[k] == self.statuses[b] == "validated":
                out[k] = b
        return out


@dataclass(frozen=True)
class GenreHead:
    name: str
    labels: tuple[str, ...]  # genres, in the bundle's label order
    features: np.ndarray  # (F,) indices into the tag outputs
    weights: np.ndarray  # (G, F)
    bias: np.ndarray  # (G,)
    intercept: np.ndarray  # (G,)
    reference: np.ndarray  # (F,) the training mean of each feature
    concept: np.ndarray  # (F,) the concept index each feature's contribution goes to (TagVocabulary.folded)
    vocabulary: TagVocabulary
    in_graph: bool
    transform: str = "identity"  # identity | logodds: what the head reads of each tag probability
    accuracy: float | None = None  # its cross-validated genre accuracy, where the manifest has it
    # genre -> {measured concept: effect size}: the genre's character on far more songs than the head saw (the
    # manifest's `typical`, concepts.genre_evidence.table_typical), which a song that has the concept shares
    typical: dict[str, dict[str, float]] = field(default_factory=dict)
    typical_rule: str = ""

    @classmethod
    def reasons_from_manifest(cls, m: dict) -> GenreHead | None:
        """The head a bundle names for its reasons (`genre_heads.reasons`), or None."""
        gh = m.get("genre_heads") or {}
        name = gh.get("reasons")
        if not name:
            return None
        if name not in (gh.get("heads") or {}):
            raise AudioConceptError(f"{m.get('name')}: genre_heads.reasons names {name!r}, not one of its heads")
        return cls.from_manifest(m, name)

    @classmethod
    def from_manifest(cls, m: dict, name: str | None = None) -> GenreHead | None:
        """The head `name` (default: the one the graph computes); None when the bundle has no tag heads."""
        gh = m.get("genre_heads") or {}
        vocab = TagVocabulary.from_manifest(m)
        heads = gh.get("heads") or {}
        if vocab is None or not heads:
            if name:
                raise AudioConceptError(f"--head {name}: {m.get('name')} carries no genre heads on named concepts")
            return None
        name = name or gh.get("default") or gh.get("in_graph")
        if name not in heads:
            if name == "embedding":  # the graph's head is not on named concepts: nothing to split
                return None
            raise AudioConceptError(f"--head {name}: choose from {', '.join(heads)}")
        h = heads[name]
        index = {lab: i for i, lab in enumerate(vocab.outputs)}
        missing = [f for f in h["features"] if f not in index]
        if missing:
            raise AudioConceptError(f"genre head {name}: features not among the tags ({', '.join(missing[:3])})")
        features = np.array([index[f] for f in h["features"]], dtype=int)
        fold = vocab.folded
        concept = np.array([fold.get(int(k), int(k)) for k in vocab.concept_of_outputs()[features]], dtype=int)
        transform = h.get("transform", "identity")
        if transform not in TRANSFORMS:
            raise AudioConceptError(f"genre head {name}: unknown transform {transform!r} ({', '.join(TRANSFORMS)})")
        cv = ((h.get("accuracy") or {}).get("cv") or {}).get("accuracy")
        typical = h.get("typical") or {}
        return cls(
            name,
            tuple(m["labels"]),
            features,
            np.asarray(h["weights"], dtype=np.float64),
            np.asarray(h["bias"], dtype=np.float64),
            np.asarray(h["intercept"], dtype=np.float64),
            np.asarray(h["reference"], dtype=np.float64),
            concept,
            vocab,
            gh.get("in_graph") == name,
            transform,
            float(cv) if cv is not None else None,
            {g: {c: float(e) for c, e in (typical.get("effect") or {}).get(g, {}).items()} for g in m["labels"]},
            str(typical.get("rule") or ""),
        )

    def inputs(self, tag_probs: np.ndarray, song: bool = False) -> np.ndarray:
        """(..., n_tags) -> (..., F) what the head reads; with `song`, (windows, n_tags) -> (F,) the mean of the
        windows' inputs (a song's logits are the mean of its windows')."""
        x = np.asarray(tag_probs, dtype=np.float64)[..., self.features]
        if self.transform == "logodds":
            x = logodds(x)
        return x.mean(axis=0) if song else x

    def logits(self, tag_probs: np.ndarray, song: bool = False) -> np.ndarray:
        """(..., n_tags) -> (..., G)."""
        return self.logits_of(self.inputs(tag_probs, song))

    def logits_of(self, x: np.ndarray) -> np.ndarray:
        """(..., F) head inputs -> (..., G)."""
        return np.asarray(x) @ self.weights.T + self.bias

    def contributions(self, tag_probs: np.ndarray, song: bool = False) -> np.ndarray:
        """(..., n_tags) -> (..., G, n_concepts): logit_g = intercept_g + the sum over concepts."""
        return self.contributions_of(self.inputs(tag_probs, song))

    def contributions_of(self, x: np.ndarray) -> np.ndarray:
        """(..., F) head inputs -> (..., G, n_concepts)."""
        per_feature = (np.asarray(x) - self.reference)[..., None, :] * self.weights  # (..., G, F)
        out = np.zeros((*per_feature.shape[:-1], len(self.vocabulary.names)))
        for f, k in enumerate(self.concept):
            out[..., k] += per_feature[..., f]
        return out

    def deviations(self, tag_probs: np.ndarray, song: bool = False) -> np.ndarray:
        """(..., n_tags) -> (..., n_concepts): how much more (> 0) or less (< 0) of each concept than the average
        training song (the sum over its features of input - reference)."""
        return self.deviations_of(self.inputs(tag_probs, song))

    def deviations_of(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x) - self.reference
        out = np.zeros((*x.shape[:-1], len(self.vocabulary.names)))
        for f, k in enumerate(self.concept):
            out[..., k] += x[..., f]
        return out

    def explain(
        self,
        tag_probs: np.ndarray,
        genre: str,
        top: int | None = None,
        song: bool = False,
        present: np.ndarray | None = None,
    ) -> dict:
        """One genre's logit split into named contributions, the strongest support first (a concept that pushes
        the genre up is a reason for it; one that pushes it down comes last); zeros left out. Musical concepts
        are the reasons (`contributions`); concepts named after a genre, style or era are kept apart
        (`similar_to`), and so are those that failed their check against audio with known content (`failed`: a
        "sitar" that fires on music with none is no reason for jazz). Neither is ever given as a reason; both weigh
        in the head all the same: logit = intercept + the three sums. With `song`, `tag_probs` are one song's
        windows. With `present` ((n_concepts,) bool: which concepts the song or window has), each row says whether
        its concept is present, and the concepts that are present and speak for the genre come first: those are
        its reasons ("metal because loud"); a concept the song does not have is no reason, even where the song has
        a little more of it than the average training song."""
        return self.explain_inputs(self.inputs(tag_probs, song), genre, top, present)

    def explain_inputs(
        self, x: np.ndarray, genre: str, top: int | None = None, present: np.ndarray | None = None
    ) -> dict:
        """`explain` on the head's inputs (F,) (a song's: the mean of its windows')."""
        g = self.labels.index(genre)
        c = self.contributions_of(x)[g]
        dev = self.deviations_of(x)
        order = [int(k) for k in np.argsort(-c, kind="stable") if c[k] != 0.0]
        if present is not None:
            present = np.array(present, dtype=bool)
            for t, b in self.vocabulary.folded.items():  # one idea, two detectors: present where either hears it
                present[b] |= present[t]
            reason = [bool(present[k]) and c[k] >= REASON_MIN for k in range(len(c))]
            order = [k for k in order if reason[k]] + [k for k in order if not reason[k]]
        named = self.vocabulary.genre_named
        failed = [not self.vocabulary.may_be_present(k) for k in range(len(named))]
        typical = self.typical_of(genre, present, reason) if present is not None else None

        def rows(ks: list[int]) -> list[dict]:
            return [
                {
                    "concept": self.vocabulary.names[k],
                    "value": round(float(c[k]), 6),
                    "genre_named": named[k],
                    "direction": "more" if dev[k] >= 0 else "less",
                    **({} if present is None else {"present": bool(present[k])}),
                }
                for k in ks[:top]
            ]

        return {
            "genre": genre,
            "logit": round(float(self.intercept[g] + c.sum()), 6),
            "intercept": round(float(self.intercept[g]), 6),
            "contributions": rows([k for k in order if not named[k] and not failed[k]]),
            "similar_to": rows([k for k in order if named[k]]),
            "failed": rows([k for k in order if failed[k] and not named[k]]),
            **({} if typical is None else {"typical": typical}),
        }

    def typical_of(self, genre: str, present: np.ndarray, reason: list[bool]) -> list[dict]:
        """The measured concepts present in the song that are typical of `genre` (`typical`) and not already among
        its reasons, the strongest effect first: [{"concept", "effect"}]. The head's reasons are what tells this genre
        apart from the others in the songs it learned from; a loud song is typical of metal even where, beside
        distortion and brightness, loudness tells metal from pop and hip-hop no better (a weight of 0)."""
        out = []
        for c, effect in sorted(self.typical.get(genre, {}).items(), key=lambda t: (-t[1], t[0])):
            k = self.vocabulary.index.get(c)
            if k is None or self.vocabulary.genre_named[k] or not self.vocabulary.may_be_present(k):
                continue
            if present[k] and not reason[k]:
                out.append({"concept": c, "effect": round(effect, 4)})
        return out


TRANSFORMS = ("identity", "logodds")
LOGODDS_EPS = 1e-4  # probabilities are clipped to [eps, 1 - eps] before the log-odds (at most +-9.2)


def logodds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LOGODDS_EPS, 1.0 - LOGODDS_EPS)
    return np.log(p) - np.log1p(-p)


GENRE_NAMED_MARK = "†"
NO_REASON = "no concept present speaks for it"


VALIDATION_MARKS = {"failed": "✗", "not validated": "?"}  # a reason whose concept did not pass its validation


def describe_contributions(
    contributions: list[dict], n: int = 4, status: dict[str, str] | None = None, reasons: bool = False
) -> str:
    """'jazz† +1.30, piano +0.61, less quiet +0.40, sitar✗ +0.10 ...' († marks concepts named after a genre, style or
    era; "less" a concept the song has less of than the average training song, which pushes the genre up or down all
    the same; with `status` (concept -> validation status), ✗ a concept that failed validation and ? one that was not
    validated: they weigh in the head all the same, but are not evidence a listener can check). With `reasons`, and
    rows that say whether their concept is present, only the reasons: concepts present that speak for the genre."""
    status = status or {}

    def mark(c: dict) -> str:
        return (GENRE_NAMED_MARK if c["genre_named"] else "") + VALIDATION_MARKS.get(status.get(c["concept"], ""), "")

    shown = reasons_of(contributions) if reasons else contributions
    if reasons and contributions and not shown:
        return NO_REASON
    return ", ".join(f"{reason_name(c)}{mark(c)} {signed(c['value'])}" for c in shown[:n])


def signed(value: float) -> str:
    """A contribution with its sign, "+0.61" or "-0.40"; one that rounds to nothing is "0.00", never "-0.00"."""
    text = f"{value:+.2f}"
    return "0.00" if float(text) == 0 else text


def reasons_of(contributions: list[dict]) -> list[dict]:
    """A genre's reasons among its contribution rows: the concepts present that speak for it, by at least
    REASON_MIN (rows that say whether their concept is present); rows that do not say are returned as they are."""
    if not any("present" in c for c in contributions):
        return contributions
    return [c for c in contributions if c.get("present") and c["value"] >= REASON_MIN]


def reason_name(c: dict) -> str:
    return ("less " if c.get("direction") == "less" else "") + c["concept"]


def typical_text(e: dict) -> str:
    """'typical of metal: loud' (a genre explanation's `typical`), or ''."""
    return f"typical of {e['genre']}: {', '.join(t['concept'] for t in e['typical'])}" if e.get("typical") else ""


def describe(
    e: dict, n: int = 4, status: dict[str, str] | None = None, borderline: set[str] | frozenset = frozenset()
) -> str:
    """'metal: distorted guitar +2.26, bright +0.36; typical of metal: loud' (the reasons, then what the song has
    that is typical of the genre besides; a song with no reason but a typical concept gives that alone). Where no
    concept present speaks for the genre, those that would and are `borderline` in the song (within their lossy
    margin of the threshold) are named as such: "no concept present speaks for it (borderline: male voice +2.96)"."""
    text = describe_contributions(e["contributions"], n, status, reasons=True)
    if text == NO_REASON and borderline:
        near = {base_concept(b) for b in borderline} | set(borderline)
        rows = [c for c in e["contributions"] if c["concept"] in near and c["value"] >= REASON_MIN][:n]
        if rows:
            shown = ", ".join(f"{reason_name(c)} {signed(c['value'])}" for c in rows)
            text += f" (borderline: {shown})"
    typical = typical_text(e)
    if typical:
        text = typical if text in (NO_REASON, "") else f"{text}; {typical}"
    return f"{e['genre']}: {text}"
