"""The figures of issue 22 on the data this machine has, measured through `audioconcept-run`'s own pipeline.

`real_music_figures(bundle)` runs a bundle on ../shared/instruments (validation only), the 50 shared GTZAN clips
and real game music from a Debian package, and returns:
- per instrument solo: is its labelled concept present? what is present on rain and on the sea?
- how many of the 50 GTZAN clips show sitar or indian (none contains either);
- the top-5 musical reasons (the bundle's reasons head) for the metal and classical clips;
- the distance-to-training (OOD) answer on the game music, the solos and the non-music recordings;
- per genre, the strongest reasons of the reasons head (mean contribution over the genre's clips).
- with `renders`: where in time, the concept spans of held-out renders strung together against their exact truth
  (concepts.timeline_check).

`write_reports` writes them (json plus generated Markdown) into reports/real_music/, beside the concept validation
table of `concepts validate-probes`. Real guitar solos and real out-of-GTZAN genre clips are not on this machine.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from audioconcept.models.tag_concepts import TAG_SUFFIX
from audioconcept.runtime.concept_probes import status_of
from audioconcept.runtime.tag_concepts import REASON_MIN, VALIDATION_MARKS, signed
from audioconcept.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

GAME_MUSIC = Path("/usr/share/scummvm/drascula/audio")  # Debian's drascula-music (Alcachofa Soft freeware licence)
GAME_MUSIC_NOTE = (
    "Debian package drascula-music 1.0+ds4-2: the recorded soundtrack of the adventure game Drascula: The Vampire "
    "Strikes Back (Copyright 1996-2008 Alcachofa Soft S.L., freeware licence 'similar to BASS/FOTAQ', Debian main); "
    "not shipped, not trained on"
)
NOT_HERE = (
    "Not measurable on this machine: real electric-guitar solos (no such labelled recording here) and real "
    "out-of-GTZAN genre clips with a clean GTZAN label (none here); the issue's figures for those are not re-measured."
)


def _predict(model, path: Path, seconds: float | None = None):
    from audioconcept.data.audio import load_audio

    audio = load_audio(path, sr=model.sample_rate)
    if seconds:
        audio = audio[: int(seconds * model.sample_rate)]
    return model.predict_array(audio, path, top_k=len(model.labels))


# the lossy check: each GTZAN clip again through these codecs (soundfile format, subtype, compression level)
LOSSY_CHECK: tuple[tuple[str, str, float], ...] = (("MP3", "MPEG_LAYER_III", 0.5), ("OGG", "VORBIS", 0.5))


# a lossy margin: this quantile of how far a codec moves a window's log-odds, over the windows near the threshold
LOSSY_MARGIN_QUANTILE = 0.9
LOSSY_NEAR = 2.0  # log-odds: a window this close to the threshold (lossless or lossy) counts as near it
LOSSY_MIN_NEAR = 20  # fewer near windows than this: every window counts


def lossy_margin(pairs: list[tuple[float, float]], threshold: float) -> float | None:
    """(lossless, lossy) strengths of the same windows -> how far a codec moves a window near the threshold, in
    log-odds: the LOSSY_MARGIN_QUANTILE of |Δ log-odds| over the windows within LOSSY_NEAR of it (all windows
    where fewer than LOSSY_MIN_NEAR are)."""
    from audioconcept.runtime.opposites import log_odds

    if not pairs:
        return None
    a, b = (log_odds(np.asarray(x, dtype=np.float64)) for x in zip(*pairs, strict=True))
    t = float(log_odds(np.float64(threshold)))
    near = np.minimum(np.abs(a - t), np.abs(b - t)) < LOSSY_NEAR
    d = np.abs(a - b)[near] if near.sum() >= LOSSY_MIN_NEAR else np.abs(a - b)
    return round(float(np.quantile(d, LOSSY_MARGIN_QUANTILE)), 3)


def lossy_figures(model, lossless: dict, validation: dict) -> dict:
    """Does the answer survive a lossy copy? Each clip of `lossless` (path -> its result) through every codec of
    LOSSY_CHECK and the runtime again: the clips whose genre or concepts present change; per concept, on how many
    clips its presence flips; and per validated concept its lossy margin (`lossy_margin`, over every codec's
    windows), which the bundle keeps so that the runtime can call a song's concept borderline. How many of the
    flips those margins would have flagged on the lossless file is counted too (in-sample: the same clips)."""
    import tempfile
    from collections import Counter

    from audioconcept.concepts.render_data import encode_lossy
    from audioconcept.runtime.aggregate import borderline_concepts

    codecs = [f"{fmt.lower()}@{level}" for fmt, _, level in LOSSY_CHECK]
    genre_changed = dict.fromkeys(codecs, 0)
    clips_changed = dict.fromkeys(codecs, 0)
    flips: dict[str, dict[str, int]] = {}
    flipped: list[tuple[Path, str]] = []  # (clip, concept) of every flip
    present = Counter(c for r in lossless.values() for c in r.concepts_present)
    names = list(model.settings.concept_names)
    thresholds = dict(zip(names, model.concept_thresholds, strict=True))
    judged = [n for n in names if (validation.get(n) or {}).get("status") == "validated"]
    pairs: dict[str, list[tuple[float, float]]] = {n: [] for n in judged}
    with tempfile.TemporaryDirectory(prefix="lossy-") as tmp:
        for (fmt, subtype, level), codec in zip(LOSSY_CHECK, codecs, strict=True):
            for path, r in lossless.items():
                q = _predict(model, encode_lossy(path, Path(tmp), fmt, subtype, level))
                genre_changed[codec] += q.genre != r.genre
                changed = set(q.concepts_present) ^ set(r.concepts_present)
                clips_changed[codec] += bool(changed)
                for c in sorted(changed):  # a set's order is the string hash's, which changes from run to run
                    flips.setdefault(c, dict.fromkeys(codecs, 0))[codec] += 1
                    flipped.append((path, c))
                for w, v in zip(r.windows, q.windows, strict=False):
                    for n in judged:
                        if n in w.concepts and n in v.concepts:
                            pairs[n].append((w.concepts[n], v.concepts[n]))
    margins = {n: m for n in judged if (m := lossy_margin(pairs[n], thresholds[n])) is not None}
    with_margin = {n: {**(validation.get(n) or {}), "lossy_margin": m} for n, m in margins.items()}
    flagged = {
        path: set(borderline_concepts(list(margins), [r.concepts.get(n, 0.0) for n in margins],
                                      [thresholds[n] for n in margins], with_margin))
        for path, r in lossless.items()
    }  # fmt: skip
    judged_flips = [(p, c) for p, c in flipped if c in margins]
    return {
        "codecs": codecs,
        "clips": len(lossless),
        "genre_changed": genre_changed,
        "clips_changed": clips_changed,
        "flips": {
            c: {
                "status": status_of(validation, c),
                "present_lossless": present.get(c, 0),
                "lossy_margin": margins.get(c),
                **f,
            }
            for c, f in sorted(flips.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        },
        "margins": margins,
        "borderline": {
            "validated_flips": len(judged_flips),
            "flagged_before": sum(c in flagged[p] for p, c in judged_flips),
            "flags": sum(len(v) for v in flagged.values()),
            "note": "in-sample: the margins were measured on these clips",
        },
    }


def _present(r) -> list[str]:
    return list(r.concepts_present)


def real_music_figures(
    bundle,
    instruments: Path,
    clips: Path,
    game: Path | None = GAME_MUSIC,
    game_n: int = 10,
    renders: Path | None = None,
) -> dict:
    from audioconcept.concepts.real_validation import NO_MUSIC, SOLO_CHECKS, read_labels
    from audioconcept.runtime.model import load
    from audioconcept.runtime.tag_concepts import reason_name, reasons_of

    model = load(bundle)
    validation = model.settings.validation  # runtime.concept_probes.validation_of
    out: dict = {"bundle": model.name, "head": model.settings.head.name if model.settings.head else None}
    # ---- solos
    if (Path(instruments) / "LABELS.tsv").exists():
        recs = {r.name: r for r in read_labels(instruments)}
        res = {n: _predict(model, Path(instruments) / n) for n in recs}
        rows = []
        for label, (file, concept) in SOLO_CHECKS.items():
            r = res[file]
            rows.append(
                {
                    "instrument": label,
                    "file": file,
                    "concept": concept,
                    "strength": r.concepts.get(concept),
                    "present": concept in r.concepts_present,
                    "status": status_of(validation, concept),
                    "also_present": [c for c in _present(r) if c != concept],
                }
            )
        out["solos"] = rows
        out["solos_found"] = sum(r["present"] for r in rows)
        out["no_music"] = {
            n: {
                "present": _present(res[n]),
                "similar_to": res[n].similar_to,
                "ood": res[n].ood,
                "genre": res[n].genre,
            }
            for n in NO_MUSIC
            if n in res
        }
        out["ood_on_recordings"] = {n: r.ood for n, r in res.items()}
        out["instruments_note"] = "../shared/instruments: validation only, never training"
    # ---- the 50 GTZAN clips
    paths = sorted(Path(clips).glob("*/*.flac"))
    if paths:
        per_clip, sitar, reasons, typical, every_reason, results = {}, {}, {}, {}, {}, {}
        correct = 0
        for p in paths:
            r = results[p] = _predict(model, p)
            label = p.parent.name
            correct += r.genre == label
            shown = set(r.concepts_present) | set(r.similar_to)
            sitar[p.name] = sorted(shown & {"sitar", "indian"})
            ex = {e["genre"]: e for e in r.explanation.get("genres", [])}
            if label in ex:  # its reasons: concepts present in the clip that speak for its genre
                every_reason[f"{label}/{p.name}"] = [
                    {
                        "concept": reason_name(c),
                        "value": round(c["value"], 3),
                        "status": status_of(validation, c["concept"]),
                    }
                    for c in reasons_of(ex[label]["contributions"])
                ]
                if label in ("metal", "classical"):
                    reasons[p.name] = every_reason[f"{label}/{p.name}"][:5]
                    typical[p.name] = [t["concept"] for t in ex[label].get("typical", [])]
            per_clip[f"{label}/{p.name}"] = {"genre": r.genre, "ood": r.ood.get("outside") if r.ood else None}
        out["gtzan"] = {
            "clips": len(paths),
            "fit_accuracy": round(correct / len(paths), 4),
            "fit_note": "the head was trained on these clips: not an estimate of accuracy",
            "sitar_or_indian_clips": sum(bool(v) for v in sitar.values()),
            "sitar_or_indian": {k: v for k, v in sitar.items() if v},
            "top5_reasons": reasons,
            "typical": typical,
            "reasons_by_clip": every_reason,
            "ood_outside": sum(bool(v["ood"]) for v in per_clip.values()),
        }
        out["lossy"] = lossy_figures(model, results, validation)
    # ---- game music outside GTZAN
    if game is not None and not Path(game).is_dir():
        # said in the report, never dropped in silence: a rebuild without the package once lost these figures
        log.warning("game music: %s is missing (apt-get install drascula-music); not checked", game)
        out["game_music"] = {"source": GAME_MUSIC_NOTE, "missing": str(game)}
    elif game is not None:
        tracks = sorted(Path(game).glob("*.ogg"), key=lambda q: q.name)[:game_n]
        g = {}
        for t in tracks:
            r = _predict(model, t, seconds=60.0)
            g[t.name] = {"genre": r.genre, "p": round(r.genres[0][1], 3), "ood": r.ood, "present": _present(r)[:6]}
        out["game_music"] = {
            "source": GAME_MUSIC_NOTE,
            "tracks": g,
            "outside": sum(bool(v["ood"] and v["ood"]["outside"]) for v in g.values()),
            "n": len(g),
            "seconds_per_track": 60,
        }
    # ---- where in time: held-out renders strung together, exact truth per second
    if renders is not None and (Path(renders) / "renders.csv").is_file():
        from audioconcept.concepts.timeline_check import timeline_figures

        out["timeline"] = timeline_figures(model, Path(renders), validation)
    out["not_here"] = NOT_HERE
    return out


def reasons_by_genre(clip_reasons: dict[str, list[dict]], labels: list[str], top: int = 3) -> dict[str, list[dict]]:
    """Per genre, its strongest reasons as `audioconcept-run` gives them, over the genre's clips: a concept counts
    for a clip only where it is present there and speaks for the genre (`runtime.tag_concepts.reasons_of`), so a
    concept no clip has is never a genre's reason, whatever its weight. `mean`: its contribution summed over the
    genre's clips where it is a reason, divided by all of them (at least REASON_MIN, else it is left out);
    `clips`: in how many it is one."""
    out = {}
    for genre in labels:
        rows = {k: v for k, v in clip_reasons.items() if k.split("/")[0] == genre}
        n = max(len(rows), 1)
        total: dict[str, float] = {}
        count: dict[str, int] = {}
        status: dict[str, str] = {}
        for rs in rows.values():
            for r in rs:
                total[r["concept"]] = total.get(r["concept"], 0.0) + r["value"]
                count[r["concept"]] = count.get(r["concept"], 0) + 1
                status[r["concept"]] = r.get("status", "not validated")
        # a reason of a clip or two whose share, spread over the genre, rounds to nothing is no reason of the genre
        ranked = sorted((c for c in total if total[c] / n >= REASON_MIN), key=lambda c: (-total[c], c))[:top]
        out[genre] = [
            {"concept": c, "mean": round(total[c] / n, 4), "clips": count[c], "of": len(rows), "status": status[c]}
            for c in ranked
        ]
    return out


def genre_reasons(
    patch: dict, manifest: dict, clips: dict, out_dir: Path, clip_reasons: dict[str, list[dict]] | None = None
) -> dict:
    """Per genre: the mean contribution of each concept to its logit over its clips, for every head; one figure
    per genre (concepts.tag_study.plot_genre); the three strongest reasons of the reasons head. With
    `clip_reasons` (each clip's reasons through the runtime: `real_music_figures`' gtzan.reasons_by_clip), those
    three are the concepts present that speak for the genre (`reasons_by_genre`), as the product gives them;
    without, the strongest mean contributions, present or not."""
    from types import SimpleNamespace

    from audioconcept.concepts.tag_study import head_contributions, plot_genre
    from audioconcept.runtime.concept_probes import ConceptProbes
    from audioconcept.train.probe import TrackFeatures

    probes = ConceptProbes.from_section(patch["concepts"]["probes"])
    feats = TrackFeatures([], [], [], [], [])
    for rel, o in clips.items():
        feats.paths.append(rel)
        feats.labels.append(rel.split("/")[0])
        feats.splits.append("all")
        extra = probes.predict(o.embedding) if probes is not None else np.zeros((len(o.tags), 0))
        feats.tags.append(np.concatenate([o.tags, extra], axis=1))
        feats.embedding.append(o.embedding)
    ck = SimpleNamespace(labels=manifest["labels"], concepts=patch["concepts"], genre_heads=patch["genre_heads"])
    contributions = head_contributions(ck, feats)
    gh = patch["genre_heads"]
    default = gh.get("reasons") or gh.get("default", "validated")  # the head that gives the product's reasons
    order = [default] + [h for h in ("all-tags", "musical") if h in contributions and h != default]
    contributions = {h: contributions[h] for h in order if h in contributions}
    from audioconcept.runtime.tag_concepts import GenreHead

    head = GenreHead.from_manifest({"name": "study", **ck.__dict__}, default)
    names = list(head.vocabulary.names)
    labels = np.asarray(feats.labels)
    song = np.stack([head.inputs(t, song=True) for t in feats.tags])  # each track's head input
    top3, failed3 = {}, {}
    failed = {n for k, n in enumerate(names) if not head.vocabulary.may_be_present(k)}
    status = dict(zip(names, head.vocabulary.statuses, strict=True)) if head.vocabulary.statuses else {}
    for genre in manifest["labels"]:
        plot_genre(genre, contributions, [], out_dir / "figures" / f"{genre}.png")
        g = contributions[default].get(genre, {"contributions": []})
        dev = head.deviations_of(song[labels == genre]).mean(0)  # more or less of it than the average training song
        named = dict(zip(names, head.vocabulary.genre_named, strict=True))
        # reasons are musical: a genre-, style- or era-named tag is "similar to", never one of the three; nor is a
        # concept that failed its validation (it weighs in the head all the same: shown apart)
        pos = [c for c in g["contributions"] if c["mean"] > 0 and not named.get(c["concept"], False)]

        def rows(cs, dev=dev):
            return [
                {
                    "concept": ("less " if dev[names.index(c["concept"])] < 0 else "") + c["concept"],
                    "mean": c["mean"],
                    "std": c["std"],
                    "status": status.get(c["concept"], "not validated"),
                }
                for c in cs[:3]
            ]

        top3[genre] = rows([c for c in pos if c["concept"] not in failed])
        failed3[genre] = rows([c for c in pos if c["concept"] in failed])
    out = {"contributions": contributions, "top3": top3, "failed_top3": failed3, "default_head": default}
    if head.typical_rule:  # what each genre's tracks tend to have, shown beside the reasons (never in the logit)
        out["typical"] = {g: head.typical.get(g, {}) for g in manifest["labels"]}
        out["typical_rule"] = head.typical_rule
    if clip_reasons:
        out["weights_top3"] = top3  # the strongest mean contributions, present or not (the figures show them)
        out["top3"] = reasons_by_genre(clip_reasons, list(manifest["labels"]))
        out["basis"] = "present"
    return out


# ---------------------------------------------------------------- Markdown
def _contrib(concept: str, value: float) -> str:
    return f"{concept} {signed(value)}"


def _marked(r: dict) -> str:
    """A reason's name with its validation mark (? never validated); failed concepts are never reasons."""
    return r["concept"] + VALIDATION_MARKS.get(r.get("status", ""), "")


def _fmt(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def validation_markdown(report: dict) -> str:
    v, cands = report["validation"], report["candidates"]
    lines = [
        "<!-- generated by `audioconcept concepts validate-probes`; do not edit -->",
        "| concept | status | source | AUC (held-out renders) | precision / recall at threshold | precision: 95 % "
        "interval (windows called present) | threshold | real-recording AUC | tag: render AUC / real AUC | "
        "probe: render AUC / real AUC | why |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(v, key=lambda n: ({"validated": 0, "failed": 1}.get(v[n]["status"], 2), n))
    for n in order:
        r = v[n]
        if r["status"] == "not validated" and n not in cands:
            continue
        c = cands.get(n, {})

        def both(s, c=c):
            x = c.get(s)
            return "–" if x is None else f"{_fmt(x['render'].get('auc'))} / {_fmt(x['real'].get('auc'))}"

        render_auc = _fmt(r.get("auc")) if r.get("data", "").startswith("held") else "–"
        pr = (
            "–"
            if r.get("precision") is None and r.get("recall") is None
            else (f"{_fmt(r.get('precision'))} / {_fmt(r.get('recall'))}")
        )
        ci = r.get("precision_ci95")
        firm = "–" if not ci else f"{_fmt(ci[0])}–{_fmt(ci[1])} ({r['n_predicted']})"
        lines.append(
            f"| {n} | {r['status']} | {r.get('source') or '–'} | {render_auc} "
            f"| {pr} | {firm} | {_fmt(r.get('threshold'), 3)}{' (real music)' * bool(r.get('threshold_data'))} "
            f"| {_fmt(r.get('real_auc'))} "
            f"| {both('tag')} | {both('probe')} | {r.get('why', '')} |"
        )
    n_not = sum(1 for n, r in v.items() if r["status"] == "not validated" and n not in cands)
    lines += _formula_table(report)
    lines += [
        "",
        f"Target precision {report['target_precision']}, chosen on the `val` renders (other pieces); figures on the "
        f"`test` renders (other pieces through the held-out soundfont {', '.join(report['test_soundfonts'])}): "
        f"{report['render_windows']} windows"
        + (
            f" (of the train windows, {report['lossy_train_windows']} are the training renders again through MP3 or "
            "Ogg Vorbis, with the same truth)"
            if report.get("lossy_train_windows")
            else ""
        )
        + ". Real-recording AUC: over the 21 recordings of ../shared/instruments, "
        "each a recording's strongest window; they are validation only, never training. A concept is validated when "
        f"its held-out render AUC is at least {report['criteria']['min_auc']}, its precision there at least "
        f"{report['criteria']['min_precision']}, its real-recording AUC (where a recording has it) at least "
        f"{report['criteria']['min_real_auc']}, a detector of an instrument or a voice (tag or probe) is present "
        "on none of the real recordings that certainly lack it (a solo of another family, a solo voice, rain and "
        "the sea; for the orchestra, what no orchestra plays), and, "
        f"for sitar and indian, it is present on at most "
        f"{report['criteria']['gtzan_absent_max']} of the 50 GTZAN clips. {n_not} more concepts (moods, and those "
        "named after a genre, style or era) have no truth here: they are marked not validated. The interval beside "
        "a precision is its Wilson 95 % interval over the held-out windows called present: where it straddles the "
        f"{report['criteria']['min_precision']} floor, the verdict is a knife edge that another render of the same "
        "pieces may turn. A threshold marked (real music) was chosen on the GTZAN clips' windows against the formula, "
        "because the one chosen on the renders broke its precision on real music (its figures above are the held-out "
        "renders' at the new threshold; below, real music's, out of fold by clip).",
    ]
    return "\n".join(lines) + "\n"


def _formula_table(report: dict) -> list[str]:
    """The measured concepts on real music, against their formula (validated.FORMULA_CONCEPTS): each candidate's
    AUC, and precision and recall at its threshold."""
    rows = []
    for n, cs in sorted(report["candidates"].items()):
        for source, x in sorted(cs.items()):
            f = (x.get("real") or {}).get("formula") or {}
            if not f:
                continue
            v = report["validation"]
            if v.get(n, {}).get("source") == source:
                status = v[n].get("status", "–")
            elif source == "tag" and n in report.get("displaced", {}):
                status = f'{report["displaced"][n].get("status", "–")}, as "{n}{TAG_SUFFIX}"'
            else:
                status = "not chosen"
            rows.append(
                f"| {n} | {source} | {status} | {_fmt(f.get('auc'))} | "
                f"{_fmt(f.get('precision'))} / {_fmt(f.get('recall'))} ({f['n_predicted']}) | "
                f"{f['n_positive']} / {f['n_windows']} |"
            )
    if not rows:
        return []
    return [
        "",
        "**Measured concepts on real music.** Loudness, brightness and the percussive share have a formula "
        "(models.measured_concepts) that gives their truth on any audio: each candidate against it on every window "
        "of the 50 shared GTZAN clips and the 21 real recordings, at its threshold (windows in the formula's "
        "uncertain band left out). A candidate fails when its AUC there is under the real-recording floor, or when, "
        "with at least the windows called present that a precision needs, the 95 % interval of its precision lies "
        "wholly under the target precision its threshold was chosen for.",
        "",
        "| concept | source | status | AUC (real music, formula truth) | precision / recall (windows called "
        "present) | positives / windows |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def heads_markdown(report: dict) -> str:
    h = report["heads"]
    v, a = h["validated"], h["all-tags"]
    default = report.get("default_head", "validated")
    mark = {name: " (the default)" if name == default else "" for name in ("validated", "all-tags")}
    return "\n".join(
        [
            "<!-- generated by `audioconcept concepts validate-probes`; do not edit -->",
            "| head | features | 5-fold CV accuracy over the 50 shared clips (mean ± sd over 10 repeats) |",
            "|---|---|---|",
            f"| validated{mark['validated']}: validated musical concepts only | {h['n_features']['validated']} | "
            f"{v['cv']['accuracy']:.3f} ± {v['cv']['std']:.3f} (C {v['C']}) |",
            f"| all-tags{mark['all-tags']}: every musicnn tag, genre-named ones shown as 'similar to' | "
            f"{h['n_features']['all-tags']} | "
            f"{a['cv']['accuracy']:.3f} ± {a['cv']['std']:.3f} |",
            "",
            f"Gap (the price of honest reasons): {a['cv']['accuracy'] - v['cv']['accuracy']:+.3f}. "
            f"{h['note']}; validated head accuracy by C: {v['cv_by_C']}.",
            "",
            f"The default (the head that chooses the genres) is the validated head only where its accuracy "
            f"reaches {report.get('default_head_min_accuracy')}; below, the default stays all-tags. Either way the "
            "validated head gives the reasons (`genre_heads.reasons`): its weights are non-negative, so each reason "
            "is a concept the song has more of than the average training song, and a song's explanation says "
            "whether this head alone would choose the same genre.",
            "",
            *evidence_lines(v),
        ]
    )


def evidence_lines(v: dict) -> list[str]:
    """The evidence test of the validated head: its price, and what each genre's songs have more of."""
    e = v.get("evidence")
    if not e:
        return []
    free = v.get("cv_without_evidence_test") or {}
    lines = [
        f"**Evidence test.** A concept may speak for a genre only where the genre's training songs have "
        f"significantly more of it than the other songs (one-sided Mann-Whitney U, p < {e['alpha']}, the test "
        f"on the head's clips redone inside every cross-validation fold): {e['allowed']} of {e['of']} weights "
        "may be non-zero. "
        + (
            f"The same head with every non-negative weight free: {free['accuracy']:.3f} ± {free['std']:.3f}; "
            f"the test costs {free['accuracy'] - v['cv']['accuracy']:+.3f} of accuracy and removes reasons that "
            'rest on no difference between the genre\'s songs and the rest ("metal because piano").'
            if free
            else ""
        ),
        *(
            ["", f"Measured concepts: {e['table']}; the others on the head's own 50 training clips.", ""]
            if e.get("table")
            else [""]
        ),
        "| genre | concepts its songs have significantly more of (p) |",
        "|---|---|",
    ]
    for genre, cs in e["by_genre"].items():
        cell = ", ".join(f"{c} ({_p(p)})" for c, p in cs.items()) or "none: its reasons come from no concept"
        lines.append(f"| {genre} | {cell} |")
    return lines + [""]


def _p(p: float) -> str:
    return "< 1e-6" if p < 1e-6 else f"{p:.0e}"


def figures_markdown(f: dict) -> str:
    lines = ["<!-- generated by `audioconcept concepts validate-probes`; do not edit -->", ""]
    if "solos" in f:
        lines += [
            f"**Solos (../shared/instruments, validation only):** the labelled concept is present on "
            f"{f['solos_found']} of {len(f['solos'])}.",
            "",
            "| instrument | file | concept | status | strength | present | also present |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in f["solos"]:
            lines.append(
                f"| {r['instrument']} | {r['file']} | {r['concept']} | {r['status']} | {_fmt(r['strength'])} | "
                f"{'yes' if r['present'] else 'no'} | {', '.join(r['also_present']) or '–'} |"
            )
        lines += [
            "",
            "| non-music | concepts present | similar to | OOD distance / threshold | answer |",
            "|---|---|---|---|---|",
        ]
        for n, r in f["no_music"].items():
            o = r["ood"] or {}
            ans = o.get("answer") or r["genre"]
            lines.append(
                f"| {n} | {', '.join(r['present']) or 'none'} | {', '.join(r['similar_to']) or 'none'} | "
                f"{_fmt(o.get('distance'))} / {_fmt(o.get('threshold'))} | {ans} |"
            )
        lines.append("")
    if "gtzan" in f:
        g = f["gtzan"]
        which = ", ".join(f"{k} ({', '.join(v)})" for k, v in g["sitar_or_indian"].items())
        lines += [
            f"**GTZAN (the 50 shared clips):** sitar or indian shown on {g['sitar_or_indian_clips']} of {g['clips']} "
            f"clips (none contains either){': ' + which if which else ''}. "
            f"Genre right on {g['fit_accuracy']:.0%} ({g['fit_note']}); "
            f"called out of distribution: {g['ood_outside']}.",
            "",
            "| clip | top-5 musical reasons of its genre: concepts present that speak for it (contribution to the "
            "logit; ? never validated) | typical of its genre besides (measured; not in the logit) |",
            "|---|---|---|",
        ]
        for clip, rs in g["top5_reasons"].items():
            shown = (_contrib(_marked(r), r["value"]) for r in rs)
            lines.append(f"| {clip} | {', '.join(shown)} | {', '.join(g.get('typical', {}).get(clip, [])) or '–'} |")
        lines.append("")
    if "lossy" in f:
        lo = f["lossy"]
        each = lambda d: ", ".join(f"{d[c]} ({c})" for c in lo["codecs"])  # noqa: E731
        lines += [
            f"**Lossy copies of the {lo['clips']} GTZAN clips** (soundfile's compression level, 0 the best quality; "
            f"decoded by the runtime as any file): the genre changed on {each(lo['genre_changed'])} clips, the "
            f"concepts present on {each(lo['clips_changed'])}.",
            "",
            "| concept | status | lossy margin (log-odds) | clips present (lossless) | "
            + " | ".join(f"clips where it flips: {c}" for c in lo["codecs"])
            + " |",
            "|---|---|---|---|" + "---|" * len(lo["codecs"]),
        ]
        for c, r in lo["flips"].items():
            lines.append(
                f"| {c} | {r['status']} | {_fmt(r.get('lossy_margin'))} | {r['present_lossless']} | "
                + " | ".join(str(r[k]) for k in lo["codecs"])
                + " |"
            )
        lines.append("")
        if lo.get("margins"):
            b = lo["borderline"]
            margins = ", ".join(f"{c} {m:.2f}" for c, m in sorted(lo["margins"].items()))
            lines += [
                f"Each validated concept's lossy margin ({LOSSY_MARGIN_QUANTILE:.0%} of the codecs' |Δ log-odds| over "
                f"windows within {LOSSY_NEAR:g} of its threshold) goes into the bundle; a song whose strength lies "
                f"within it of the threshold is called borderline. Margins: {margins}. Of the {b['validated_flips']} "
                f"flips of validated concepts above, {b['flagged_before']} were borderline on the lossless clip; "
                f"{b['flags']} borderline flags over the {lo['clips']} lossless clips in all ({b['note']}).",
                "",
            ]
    if f.get("timeline", {}).get("concepts"):
        lines += timeline_markdown(f["timeline"])
    if f.get("game_music", {}).get("missing"):
        lines += [
            f"**Game music outside GTZAN:** not checked: {f['game_music']['missing']} is missing "
            "(`apt-get install drascula-music`, then run this again).",
            "",
        ]
    elif "game_music" in f:
        gm = f["game_music"]
        lines += [
            f'**Game music outside GTZAN:** {gm["outside"]} of {gm["n"]} tracks answered "other / none of these" '
            f"(first {gm['seconds_per_track']} s of each). Source: {gm['source']}.",
            "",
            "| track | nearest genre (p) | OOD distance / threshold | answer |",
            "|---|---|---|---|",
        ]
        for t, r in gm["tracks"].items():
            o = r["ood"] or {}
            lines.append(
                f"| {t} | {r['genre']} ({r['p']:.2f}) | {_fmt(o.get('distance'))} / {_fmt(o.get('threshold'))} | "
                f"{o.get('answer') or r['genre']} |"
            )
        lines.append("")
    lines += [f["not_here"], ""]
    return "\n".join(lines)


def timeline_markdown(t: dict) -> list[str]:
    """The timeline check (concepts.timeline_check): validated concepts first, then those never present."""
    lines = [
        f"**Where in time** ({t['medleys']} medley{'s' * (t['medleys'] != 1)} of {t['parts']} held-out renders each, "
        f"{t['seconds']} s in all: "
        f"{t['data']}; every second against the truth of the render window under it). Time precision: of the seconds "
        "inside a concept's spans, the share where it sounds; time recall: of the seconds where it sounds, the share "
        "inside its spans; off seams: more than one window from a change of part. "
        "Misplaced: parts that never hold the concept where a span reaches more than one window "
        "inside (a window across the seam of two parts hears both).",
        "",
        "| concept | status | time precision | time precision, off seams | time recall | seconds called / true | "
        "parts found / holding it | misplaced |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(t["concepts"].items(), key=lambda kv: (kv[1]["status"] != "validated", kv[0]))
    for c, r in order:
        if r["status"] != "validated" and not r["seconds_called"]:
            continue
        lines.append(
            f"| {c} | {r['status']} | {_fmt(r['precision'])} | {_fmt(r.get('precision_off_seams'))} | "
            f"{_fmt(r['recall'])} | {r['seconds_called']} / "
            f"{r['seconds_true']} | {r['parts_found']} / {r['parts_with']} | {r['misplaced']} |"
        )
    never = [c for c, r in order if r["status"] != "validated" and not r["seconds_called"]]
    if never:
        lines += ["", f"Never placed in time (not validated, so never present): {', '.join(never)}."]
    return lines + [""]


def reasons_markdown(reasons: dict) -> str:
    present = reasons.get("basis") == "present"
    what = (
        "concepts present in a clip that speak for its genre, as `audioconcept-run` gives them: the mean of their "
        "contribution to the genre's logit over its clips, 0 where absent; in how many clips"
        if present
        else "mean contribution to the genre's logit over its clips"
    )
    typical = reasons.get("typical")
    lines = [
        "<!-- generated by `audioconcept concepts validate-probes`; do not edit -->",
        f"| genre | three strongest reasons (head {reasons['default_head']}: {what}; ? never validated) | failed its "
        "validation: weighs in the head, not a reason | "
        + ("typical of the genre (share of pairs; beside the reasons where the song has it) | " if typical else "")
        + "figure |",
        "|---|---|---|" + ("---|" if typical else "") + "---|",
    ]
    failed = reasons.get("failed_top3") or {}

    def shown(r: dict) -> str:
        text = _contrib(_marked(r), r["mean"])
        return f"{text} ({r['clips']} of {r['of']})" if "clips" in r else text

    for g, rs in reasons["top3"].items():
        lines.append(
            f"| {g} | {', '.join(shown(r) for r in rs) or ('none present' if present else 'none positive')} | "
            f"{', '.join(_contrib(r['concept'], r['mean']) for r in failed.get(g, [])) or '–'} | "
            + (f"{', '.join(f'{c} ({e:.0%})' for c, e in typical.get(g, {}).items()) or '–'} | " if typical else "")
            + f"[{g}](figures/{g}.png) |"
        )
    if typical:
        lines += ["", f"Typical: {reasons['typical_rule']}."]
    return "\n".join(lines) + "\n"


def write_reports(out: Path, report: dict, figures: dict, before: dict | None, reasons: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "concept_validation.json", report)
    atomic_write_text(out / "concept_validation.md", validation_markdown(report))
    atomic_write_text(out / "heads.md", heads_markdown(report))
    if before is None and (out / "done_when.json").exists():  # keep the figures of the bundle as it was
        import json

        before = json.loads((out / "done_when.json").read_text()).get("before")
    atomic_write_json(out / "done_when.json", {"after": figures, "before": before})
    atomic_write_text(out / "done_when.md", figures_markdown(figures))
    if before is not None:
        atomic_write_text(out / "done_when_before.md", figures_markdown(before))
    atomic_write_json(out / "reasons.json", reasons)
    atomic_write_text(out / "reasons.md", reasons_markdown(reasons))
