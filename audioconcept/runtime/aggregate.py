"""Window outputs -> one song: the only place where window genres and concept scores become a song's.

The runtime, batch analysis, the app and `concepts validate` all go through `SongAggregator`, so a
song's genres, concept strengths, presence and spans are computed one way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from audioconcept.data.audio import Window
from audioconcept.errors import SilentAudio
from audioconcept.runtime.concept_probes import confidence_text, status_of, validation_of
from audioconcept.runtime.ood import OTHER, DistanceToTraining
from audioconcept.runtime.opposites import Groups, groups_from_manifest, log_odds, opposites_of, present_mask
from audioconcept.runtime.result import ConceptSpan, SongResult, WindowResult
from audioconcept.runtime.silence import SILENCE_DBFS, is_silent
from audioconcept.runtime.tag_concepts import GenreHead, TagVocabulary
from audioconcept.runtime.timeline import (
    clip_span,
    frames_to_grid,
    smoothing_s,
    spans_from_grid,
    spans_from_windows,
    vote_grid,
)


def concept_confidence(record: dict | None) -> dict:
    """What a result shows of a concept's validation: status, AUC, precision at its threshold, and one line."""
    r = record or {}
    return {
        "status": r.get("status", "not validated"),
        "source": r.get("source"),
        "auc": r.get("auc"),
        "precision": r.get("precision"),
        "real_auc": r.get("real_auc"),
        "data": r.get("data"),
        "text": confidence_text(record),
        "lossy_margin": r.get("lossy_margin"),
    }


def borderline_concepts(
    names, strengths, thresholds, validation: dict | None, skip: set[str] | frozenset = frozenset()
) -> list[str]:
    """The validated concepts whose song-level strength lies within their `lossy_margin` of the threshold, in
    log-odds: present or not, the same song as MP3 or Ogg Vorbis may well say the opposite (the margin is measured
    by the validation's lossy check). `skip`: names never shown as concepts (genre-named)."""
    out = []
    for n, v, t in zip(names, strengths, thresholds, strict=True):
        r = (validation or {}).get(n) or {}
        m = r.get("lossy_margin")
        if n in skip or r.get("status") != "validated" or m is None:
            continue
        if abs(float(log_odds(np.float64(v)) - log_odds(np.float64(t)))) < float(m):
            out.append(n)
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@dataclass(frozen=True)
class SongSettings:
    """What turns window outputs into a song: labels, window length, concept names and thresholds."""

    labels: tuple[str, ...]
    window_s: float
    concept_names: tuple[str, ...] = ()
    concept_thresholds: tuple[float, ...] = ()
    smooth_s: float = 4.0  # frame-level concept scores are noisy; concepts last bars, not frames
    tags: TagVocabulary | None = None  # a tagger's concept outputs are source tags, merged into concepts
    head: GenreHead | None = None  # a linear genre head on the tags: its logits where the graph has not (--head)
    reasons: GenreHead | None = None  # the head whose contributions explain the genres (the bundle's reasons head)
    multi_label: bool = False  # labels are independent tags (a bare tagger), not one softmax
    top_contributions: int = 5  # per window
    span_min_s: float = 1.5  # a concept span lasts at least this long (and at least two grid cells)
    span_max_gap_s: float = 1.0  # gaps up to this long (or one grid cell) inside a span are bridged
    ood: DistanceToTraining | None = None  # how far a song is from the genre head's training music
    validation: dict = field(default_factory=dict)  # concept -> its validation record (runtime.concept_probes)
    exclusive: Groups = ()  # pairs of opposite concepts: at one moment only the stronger side is present (opposites)

    @classmethod
    def from_manifest(cls, m: dict, head: str | None = None) -> SongSettings:
        c = m.get("concepts") or {}
        names = tuple(c.get("names") or ())
        thr = tuple(float(t) for t in (c.get("thresholds") or [0.5] * len(names)))
        if len(thr) != len(names):
            thr = (0.5,) * len(names)
        tags = TagVocabulary.from_manifest(m)
        genre_head = GenreHead.from_manifest(m, head)
        # the reasons: the head the bundle names for them, unless --head chose one (then that head's own)
        reasons = genre_head if head else (GenreHead.reasons_from_manifest(m) or genre_head)
        return cls(
            tuple(m["labels"]),
            float(m["window_s"]),
            names,
            thr,
            tags=tags,
            head=genre_head,
            reasons=reasons,
            multi_label=bool(m.get("multi_label")),
            ood=DistanceToTraining.from_manifest(m),
            validation=validation_of(m),
            exclusive=groups_from_manifest(m),
        )

    def may_be_present(self, k: int) -> bool:
        """False for a concept that failed its validation, whatever the bundle's concepts are (tags or CAVs)."""
        return status_of(self.validation, self.concept_names[k]) != "failed"

    @cached_property
    def allowed(self) -> np.ndarray:
        """(K,) the concepts that may be present at all (not failed validation); derived once, read per window."""
        return np.array([self.may_be_present(k) for k in range(len(self.concept_names))], dtype=bool)

    def present_at(self, values: np.ndarray) -> np.ndarray:
        """(K, N) concept strengths at N moments -> (K, N) present: above the threshold, not failed, and not
        outweighed by an opposite concept at that moment (runtime.opposites)."""
        return present_mask(values, self.concept_thresholds, self.exclusive, self.allowed)


@dataclass
class SongAggregator:
    settings: SongSettings
    windows: list[WindowResult] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)
    window_concepts: list[np.ndarray] = field(default_factory=list)
    frames: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    window_tags: list[np.ndarray] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)  # window embeddings, for the distance to training
    duration: float = 0.0
    present_any: np.ndarray | None = None  # (K,) present in at least one window, by that window's rule
    # per window: start, end, present (K,), value (K,); for the spans of concepts whose frames make none
    window_on: list[tuple[float, float, np.ndarray, np.ndarray]] = field(default_factory=list)
    last_present: np.ndarray | None = None  # (K,) present in the last window added
    seen: int = 0  # windows added
    audible: int = 0  # windows above the silence floor (runtime.silence): the only ones a song's figures count

    def add(
        self,
        batch: list[Window],
        logits: np.ndarray,
        probabilities: np.ndarray,
        concepts=None,
        frames=None,
        embedding=None,
    ):
        """One batch of windows and the backend's outputs for them (rows in the same order). A silent window
        (runtime.silence) keeps its row, marked, with no reasons, and counts in none of the song's figures."""
        s = self.settings
        heard = np.array([not is_silent(w.samples) for w in batch], dtype=bool)
        self.seen += len(batch)
        self.audible += int(heard.sum())
        if s.ood is not None and embedding is not None:
            self.embeddings.extend(np.asarray(embedding, dtype=np.float64)[heard])
        tags = None
        if s.tags is not None and concepts is not None:
            tags = np.asarray(concepts, dtype=np.float64)
            concepts = s.tags.merge(tags)
            frames = s.tags.merge(frames, axis=1) if frames is not None else None
            if s.head is not None and not s.head.in_graph:  # --head: a head the graph does not compute
                logits = s.head.logits(tags)
                probabilities = softmax(logits)
        on = None  # (K, windows) each window's present concepts
        if concepts is not None and s.concept_names and len(batch):
            on = s.present_at(np.asarray(concepts, dtype=np.float64).T) & heard  # (K, windows); nothing in silence
            self.present_any = on.any(axis=1) | (False if self.present_any is None else self.present_any)
            self.last_present = on[:, -1]
            for i, w in enumerate(batch):
                if heard[i]:
                    self.window_on.append((w.start, w.end, on[:, i], np.asarray(concepts[i], dtype=np.float64)))
        for i, w in enumerate(batch):
            p = probabilities[i]
            j = int(np.argmax(p))
            wc: dict[str, float] = {}
            if concepts is not None and s.concept_names:
                wc = {n: round(float(v), 4) for n, v in zip(s.concept_names, concepts[i], strict=True)}
                if heard[i]:
                    self.window_concepts.append(np.asarray(concepts[i], dtype=np.float64))
                    if frames is not None:
                        # frames cover the whole window; the grid keeps only the part inside the song
                        self.frames.append((w.start, w.start + s.window_s, np.asarray(frames[i], dtype=np.float64)))
            wr = WindowResult(
                w.index,
                round(w.start, 3),
                round(w.end, 3),
                s.labels[j],
                float(p[j]),
                {lab: round(float(v), 6) for lab, v in zip(s.labels, p, strict=True)},
                wc,
                silent=not heard[i],
            )
            self.windows.append(wr)
            self.duration = max(self.duration, w.end)
            if tags is not None:
                wr.tags = {t: round(float(v), 4) for t, v in zip(s.tags.outputs, tags[i], strict=True)}
            if not heard[i]:
                continue
            if tags is not None:
                self.window_tags.append(tags[i])
                if s.reasons is not None:
                    here = on[:, i] if on is not None else None  # a window's reasons: concepts present in it
                    e = s.reasons.explain(tags[i], s.labels[j], s.top_contributions, present=here)
                    wr.explanation = e["contributions"]
            self.logits.append(np.asarray(logits[i], dtype=np.float64))
            self.probabilities.append(np.asarray(p, dtype=np.float64))

    def genre_probabilities(self) -> np.ndarray:
        """Song-level probabilities: the softmax of the mean window logits (for independent tags, the mean
        window probability, as musicnn averages its patches)."""
        if self.settings.multi_label:
            return np.mean(self.probabilities, axis=0)
        return softmax(np.mean(self.logits, axis=0))

    def concept_strengths(self) -> np.ndarray:
        """Song-level strength per concept: the strongest window."""
        return np.max(self.window_concepts, axis=0)

    def tag_strengths(self) -> np.ndarray:
        """Song-level strength per source tag: the strongest window."""
        return np.max(self.window_tags, axis=0)

    def reason_inputs(self) -> np.ndarray:
        """The reasons head's input for the song: the mean of its windows' (a song's logits are the mean of its
        windows', and so are its contributions)."""
        return self.settings.reasons.inputs(np.stack(self.window_tags), song=True)

    def frame_s(self) -> float:
        """How long one concept frame lasts: the window over its frames (a whole window for musicnn)."""
        return self.settings.window_s / self.frames[0][2].shape[-1] if self.frames else self.settings.window_s

    def frame_resolution(self) -> float:
        return min(1.0, self.frame_s())

    def smooth_s(self) -> float:
        """The timeline's smoothing: settings.smooth_s, or none where one frame already lasts most of it."""
        return smoothing_s(self.frame_s(), self.settings.smooth_s)

    def concept_presence(self, resolution: float | None = None, duration: float | None = None):
        """(grid centres (G,), frame probabilities (K, G), present (K, G)): the song's rule (threshold, validation,
        opposites) on each cell's own value, then a majority vote over the smoothing window (timeline.vote_grid)."""
        res = resolution or self.frame_resolution()
        centres, probs = frames_to_grid(self.frames, duration or self.duration, res)
        if probs.size == 0:
            return centres, probs, probs.astype(bool)
        on = vote_grid(self.settings.present_at(probs), np.isfinite(probs).any(axis=0), res, self.smooth_s())
        return centres, probs, on

    def window_present(self, genre_named: bool = False) -> tuple[str, ...]:
        """The concepts present in the last window added, by the song's rule; as a song's `concepts_present`, those
        named after a genre, style or era are left out (`genre_named=True`: only those, a song's `similar_to`)."""
        if self.last_present is None:
            return ()
        s = self.settings
        named = s.tags.genre_named if s.tags is not None else (False,) * len(s.concept_names)
        return tuple(
            n for n, o, g in zip(s.concept_names, self.last_present, named, strict=True) if o and g == genre_named
        )

    def concept_spans(self, present: list[str]) -> list[ConceptSpan]:
        """Where each present concept sounds: from the frames (finer than a window) where the bundle has them; a
        present concept whose frames never make a span (a window-level tag, or a short or weak presence) gets
        the windows it is present in, so that every present concept has a place in time."""
        s = self.settings
        names = list(s.concept_names)
        spans: list[ConceptSpan] = []
        if self.frames:
            res = self.frame_resolution()
            centres, probs, on = self.concept_presence(res)
            spans = spans_from_grid(
                names,
                centres,
                probs,
                res,
                list(s.concept_thresholds),
                min_len=max(2 * res, s.span_min_s),
                max_gap=max(res, s.span_max_gap_s),
                duration=self.duration,
                on=on,
            )
            spans = [sp for sp in spans if sp.concept in present]
        placed = {sp.concept for sp in spans}
        missing = [n for n in present if n not in placed]
        if missing and self.window_on:
            # a window-level span never overlaps a span of an opposite concept (opposites: one side at a moment)
            grid = list(spans)
            for sp in spans_from_windows(names, self.window_on, missing, s.span_max_gap_s, self.duration):
                opposite = {names[j] for j in opposites_of(names.index(sp.concept), s.exclusive)}
                spans += clip_span(sp, [o for o in grid if o.concept in opposite])
        rank = {n: k for k, n in enumerate(names)}
        return sorted(spans, key=lambda sp: (rank[sp.concept], sp.start))

    def result(
        self, path: str, model: str, arch: str, trained_on: str, backend: str, device: str, top_k: int = 3
    ) -> SongResult:
        s = self.settings
        if not self.audible:
            raise SilentAudio(
                f"{path}: silence: every window is under {SILENCE_DBFS:g} dBFS (runtime.silence); no music to classify"
            )
        song = self.genre_probabilities()
        order = np.argsort(-song)[: max(1, top_k)]
        res = SongResult(
            path,
            model,
            arch,
            trained_on,
            backend,
            device,
            round(self.duration, 3),
            [(s.labels[i], float(song[i])) for i in order],
            list(self.windows),
        )
        if self.window_concepts:
            strength = self.concept_strengths()
            res.concepts = {n: round(float(v), 4) for n, v in zip(s.concept_names, strength, strict=True)}
            # present: in at least one window, by that window's rule (an opposite stronger there silences it), and
            # somewhere on the timeline: a concept whose every moment an opposite holds there is not present (one
            # rule for the song and its timeline: never "loud" over the whole song and "quiet" in its list)
            present = [n for n, o in zip(s.concept_names, self.present_any, strict=True) if o]
            res.concept_spans = self.concept_spans(present)
            placed = {sp.concept for sp in res.concept_spans}
            res.concepts_present = [n for n in present if n in placed]
            named = dict(zip(s.tags.names, s.tags.genre_named, strict=True)) if s.tags is not None else {}
            if s.validation:
                res.concept_validation = {
                    n: {**concept_confidence(s.validation.get(n)), "genre_named": bool(named.get(n))}
                    for n in s.concept_names
                }
            if s.tags is not None:
                res.similar_to = sorted(
                    (n for n in res.concepts_present if named.get(n)), key=lambda n: -res.concepts[n]
                )
                res.concepts_present = [n for n in res.concepts_present if not named.get(n)]
            if s.validation:
                skip = {n for n in s.concept_names if named.get(n)}
                res.concepts_borderline = borderline_concepts(
                    s.concept_names, strength, s.concept_thresholds, s.validation, skip
                )
        if s.ood is not None and self.embeddings:
            res.ood = s.ood.judge(np.stack(self.embeddings))
            if res.ood["outside"]:
                res.ood["answer"] = OTHER
        if self.window_tags:
            res.tags = {t: round(float(v), 4) for t, v in zip(s.tags.outputs, self.tag_strengths(), strict=True)}
            if s.reasons is not None:
                shown = set(res.concepts_present) | set(res.similar_to)
                present = np.array([n in shown for n in s.reasons.vocabulary.names])
                res.explanation = explanation(s, self.reason_inputs(), order, present)
        return res


EXPLANATION_NOTE = (
    "logit = intercept + the sum of the contributions, of similar_to and of failed; a contribution is weight x (input "
    "- the training mean) summed over the concept's sources (a concept's displaced musicnn tag, where both passed "
    "validation, is one of them); the reasons are the musical concepts present in the "
    "song that speak for the genre (present and value > 0), strongest first, and the other contributions follow; "
    "concepts named after a genre, style or era are kept apart in similar_to, and those that failed their "
    "validation in failed; typical (where the head has it) lists the measured concepts present in the song that are "
    "typical of the genre on far more songs than the head saw (typical_rule) and are not among its reasons: they add "
    "nothing to the logit"
)


def explanation(s: SongSettings, x: np.ndarray, order: list[int], present: np.ndarray) -> dict:
    """A song's genres (in `order`) split into named contributions by the reasons head, from its input `x`, the
    concepts `present` in the song first where they speak for the genre (its reasons). Where that head is not the
    one that chose the genres, say which did, how right the reasons head is on its own (cross-validated) and
    whether it would choose the same top genre."""
    r = s.reasons
    out: dict = {"head": r.name, "genres": [r.explain_inputs(x, s.labels[i], None, present) for i in order]}
    if s.head is not None and s.head.name != r.name:
        own = s.labels[int(np.argmax(r.logits_of(x)))]
        out |= {"genres_from": s.head.name, "reasons_genre": own, "agrees": own == s.labels[order[0]]}
        if r.accuracy is not None:
            out["reasons_accuracy"] = r.accuracy
    if r.typical_rule:  # what a genre's `typical` concepts rest on
        out["typical_rule"] = r.typical_rule
    out["note"] = EXPLANATION_NOTE
    return out
