// Window outputs -> one song, as audioconcept/runtime/aggregate.py, tag_concepts.py and timeline.py compute it:
// genres (softmax of the mean window logits), window rows, concept strengths and presence, concept spans, and
// a tag bundle's exact head contributions. `rt` holds the runtime's constants that are not in a manifest
// (site.json "runtime", written from their Python definitions). Concept probes (probes.js) are appended to the graph's
// tags before `add` (appendProbes, as model.py does); validation and the distance to training (ood.js) come from the
// manifest.
import { ConceptProbes, conceptConfidence, statusOf, validationOf } from "./probes.js";
import { DistanceToTraining, OTHER } from "./ood.js";

export function round(x, d) {
  const k = 10 ** d;
  return Math.round(x * k) / k;
}

export function softmax(x) {
  const m = Math.max(...x);
  const e = x.map(v => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map(v => v / s);
}

function argmax(a) { let j = 0; for (let i = 1; i < a.length; i++) if (a[i] > a[j]) j = i; return j; }
function mean(rows) { const out = new Float64Array(rows[0].length); for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i]; return Array.from(out, v => v / rows.length); }
function colMax(rows) { const out = Array.from(rows[0]); for (const r of rows) for (let i = 0; i < r.length; i++) out[i] = Math.max(out[i], r[i]); return out; }
// runtime/silence.py: the RMS level of a window in dBFS; under rt.silence_dbfs it is silent (no genre, no reason,
// and it counts in none of the song's figures)
export function levelDbfs(x) {
  let ms = 0;
  for (let i = 0; i < x.length; i++) ms += x[i] * x[i];
  ms = x.length ? ms / x.length : 0;
  return ms > 0 ? 10 * Math.log10(ms) : -Infinity;
}

// indices sorting `a` descending (stable)
function order(a) { return a.map((v, i) => i).sort((i, j) => (a[j] - a[i]) || (i - j)); }

const TAG_SUFFIX = " (musicnn tag)";  // models/tag_concepts.py's TAG_SUFFIX: a concept's displaced musicnn tags

export class TagVocabulary {
  // outputs: the graph's tags, then the concept probes' outputs; statuses: each concept's validation status
  constructor(c, probeOutputs, statuses) {
    this.outputs = [...c.outputs, ...probeOutputs]; this.nGraph = c.outputs.length;
    this.names = c.names; this.members = c.members; this.genreNamed = c.genre_named.map(Boolean); this.statuses = statuses;
  }
  static fromManifest(m) {
    const c = m.concepts || {};
    if (c.kind !== "tags") return null;
    const probes = ConceptProbes.fromManifest(m), validation = validationOf(m);
    const statuses = Object.keys(validation).length ? c.names.map(n => statusOf(validation, n)) : [];
    return new TagVocabulary(c, probes ? probes.outputs : [], statuses);
  }
  // a concept that failed validation is shown, marked, and never called present
  mayBePresent(k) { return !this.statuses.length || this.statuses[k] !== "failed"; }
  merge(tags) { return this.members.map(mem => Math.max(...mem.map(i => tags[i]))); }
  // (n_outputs, T) frames -> (K, T)
  mergeFrames(frames) { return this.members.map(mem => frames[mem[0]].map((_, t) => Math.max(...mem.map(i => frames[i][t])))); }
  conceptOfOutputs() { const of = new Array(this.outputs.length).fill(-1); this.members.forEach((mem, k) => mem.forEach(i => { of[i] = k; })); return of; }
  // displaced tag concept "<name> (musicnn tag)" -> its concept, where both passed validation: one idea, two
  // detectors, one reason (tag_concepts.py's TagVocabulary.folded); a failed or unvalidated one is never folded
  folded() {
    const out = new Map();
    if (!this.statuses.length) return out;
    const index = new Map(this.names.map((n, k) => [n, k]));
    this.names.forEach((n, k) => {
      const b = n.endsWith(TAG_SUFFIX) ? index.get(n.slice(0, -TAG_SUFFIX.length)) : undefined;
      if (b !== undefined && this.statuses[k] === "validated" && this.statuses[b] === "validated") out.set(k, b);
    });
    return out;
  }
}

const LOGODDS_EPS = 1e-4;  // tag_concepts.py's LOGODDS_EPS
const REASON_MIN = 0.005;  // tag_concepts.py's REASON_MIN: a smaller share of the logit is no reason
function logodds(p) { const q = Math.min(Math.max(p, LOGODDS_EPS), 1 - LOGODDS_EPS); return Math.log(q) - Math.log1p(-q); }

export class GenreHead {
  // the head `name` (default: the manifest's default head, else the one the graph computes; tag_concepts.py's
  // GenreHead.from_manifest)
  static fromManifest(m, name) {
    const gh = m.genre_heads || {}, vocab = TagVocabulary.fromManifest(m), heads = gh.heads || {};
    name = name || gh.default || gh.in_graph;
    if (!vocab || !heads[name]) return null;
    const h = heads[name], index = Object.fromEntries(vocab.outputs.map((t, i) => [t, i]));
    const missing = h.features.filter(f => !(f in index));
    if (missing.length) throw new Error(`genre head ${name}: features not among the tags (${missing.slice(0, 3).join(", ")})`);
    const transform = h.transform || "identity";
    if (!["identity", "logodds"].includes(transform)) throw new Error(`genre head ${name}: unknown transform ${transform}`);
    const cv = ((h.accuracy || {}).cv || {}).accuracy;
    const head = new GenreHead();
    Object.assign(head, {
      name, labels: m.labels, features: h.features.map(f => index[f]), weights: h.weights, bias: h.bias, intercept: h.intercept,
      reference: h.reference, vocab, inGraph: gh.in_graph === name, transform, accuracy: cv === undefined ? null : cv,
      typical: (h.typical || {}).effect || {},  // genre -> {measured concept: effect size} (tag_concepts.py's typical)
      typicalRule: (h.typical || {}).rule || "",
    });
    const of = vocab.conceptOfOutputs();
    head.fold = vocab.folded();  // derived once: explainInputs reads it for every window
    head.nameIndex = new Map(vocab.names.map((n, k) => [n, k]));  // and this (its `typical`)
    head.concept = head.features.map(f => (head.fold.has(of[f]) ? head.fold.get(of[f]) : of[f]));
    return head;
  }
  // the head the manifest names for its reasons (genre_heads.reasons), or null
  static reasonsFromManifest(m) {
    const name = (m.genre_heads || {}).reasons;
    return name ? GenreHead.fromManifest(m, name) : null;
  }
  // what the head reads of one window's tags (GenreHead.inputs)
  inputs(tags) { return this.features.map(f => this.transform === "logodds" ? logodds(tags[f]) : tags[f]); }
  // a song's input: the mean of its windows'
  songInputs(windowTags) { return mean(windowTags.map(t => this.inputs(t))); }
  contributionsOf(x, g) {
    const out = new Array(this.vocab.names.length).fill(0), w = this.weights[g];
    this.features.forEach((f, i) => { out[this.concept[i]] += (x[i] - this.reference[i]) * w[i]; });
    return out;
  }
  // a head the graph does not compute: its logits on the tags
  logits(tags) { const x = this.inputs(tags); return this.weights.map((w, g) => x.reduce((s, v, i) => s + v * w[i], 0) + this.bias[g]); }
  // per concept: how much more (> 0) or less (< 0) of it than the average training song
  deviationsOf(x) {
    const out = new Array(this.vocab.names.length).fill(0);
    this.features.forEach((f, i) => { out[this.concept[i]] += x[i] - this.reference[i]; });
    return out;
  }
  explain(tags, genre, top, present) { return this.explainInputs(this.inputs(tags), genre, top, present); }
  // the strongest support first, and with `present` (a bool per concept) the concepts present that speak for the
  // genre before all others; musical concepts are the reasons (contributions); genre-named ones are kept apart
  // (similar_to), and so are those that failed validation (failed)
  explainInputs(x, genre, top, present) {
    const g = this.labels.indexOf(genre), c = this.contributionsOf(x, g), dev = this.deviationsOf(x);
    let ord = order(c).filter(k => c[k] !== 0), reason = null;
    if (present) {
      present = Array.from(present, Boolean);  // one idea, two detectors: present where either hears it
      for (const [t, b] of this.fold) present[b] = present[b] || present[t];
      reason = k => present[k] && c[k] >= REASON_MIN;
      ord = [...ord.filter(reason), ...ord.filter(k => !reason(k))];
    }
    const named = this.vocab.genreNamed;
    const failed = named.map((_, k) => !this.vocab.mayBePresent(k));
    // the measured concepts present that are typical of the genre and not already its reasons (typical_of)
    const typical = !present ? null : Object.entries(this.typical[genre] || {})
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .filter(([n]) => { const k = this.nameIndex.get(n); return k !== undefined && !named[k] && !failed[k] && present[k] && !reason(k); })
      .map(([n, e]) => ({ concept: n, effect: round(e, 4) }));
    const rows = ks => ks.slice(0, top === undefined || top === null ? undefined : top).map(k => ({
      concept: this.vocab.names[k], value: round(c[k], 6), genre_named: named[k], direction: dev[k] >= 0 ? "more" : "less",
      ...(present ? { present: !!present[k] } : {}),
    }));
    return {
      genre, logit: round(this.intercept[g] + c.reduce((a, b) => a + b, 0), 6), intercept: round(this.intercept[g], 6),
      contributions: rows(ord.filter(k => !named[k] && !failed[k])), similar_to: rows(ord.filter(k => named[k])),
      failed: rows(ord.filter(k => failed[k] && !named[k])),
      ...(typical ? { typical } : {}),
    };
  }
}

// timeline.py: frames_to_grid, smooth_grid, spans_from_grid
export function framesToGrid(windows, duration, res) {
  const k = windows[0][2].length, g = Math.max(1, Math.ceil(duration / res));
  const acc = Array.from({ length: k }, () => new Float64Array(g)), cnt = new Float64Array(g);
  const centres = Array.from({ length: g }, (_, i) => (i + 0.5) * res);
  for (const [start, end, frames] of windows) {
    const t = frames[0].length;
    const edges = Array.from({ length: t + 1 }, (_, i) => start + (end - start) * i / t);
    for (let c = 0; c < g; c++) {
      const x = centres[c];
      if (!(x >= start && x < Math.min(end, duration + 1e-9))) continue;
      let idx = 0;  // searchsorted(edges, x, "right") - 1, clipped
      while (idx + 1 < edges.length && edges[idx + 1] <= x) idx++;
      idx = Math.min(Math.max(idx, 0), t - 1);
      for (let j = 0; j < k; j++) acc[j][c] += frames[j][idx];
      cnt[c] += 1;
    }
  }
  return [centres, acc.map(row => Array.from(row, (v, c) => cnt[c] ? v / cnt[c] : NaN))];
}

export function smoothGrid(probs, res, seconds) {
  const k = Math.max(1, Math.round(seconds / res));  // numpy rounds half to even; seconds / res is rarely a half
  if (k === 1 || !probs.length) return probs;
  const lo = Math.floor((k - 1) / 2);
  return probs.map(row => {
    const n = row.length, out = new Array(n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(row[i])) { out[i] = NaN; continue; }
      // the centred part of the full convolution: indices i + lo - (k - 1) .. i + lo
      let num = 0, den = 0;
      for (let j = i + lo - (k - 1); j <= i + lo; j++) if (j >= 0 && j < n && Number.isFinite(row[j])) { num += row[j]; den += 1; }
      out[i] = num / den;
    }
    return out;
  });
}

// timeline.py: smoothing_s (none where one frame per window already lasts most of the smoothing window)
export function smoothingS(frameS, seconds) { return seconds / Math.max(frameS, 1e-9) < 1.5 ? 0 : seconds; }

// timeline.py: vote_grid (presence in more than half of the covered cells of the smoothing window around each cell)
export function voteGrid(on, valid, res, seconds) {
  const x = on.map(row => row.map((v, j) => (valid[j] ? (v ? 1 : 0) : NaN)));
  return smoothGrid(x, res, seconds).map(row => row.map(v => Number.isFinite(v) && v > 0.5));
}

// opposites.py: at one moment only the side of a pair of opposite concepts further above its threshold (in log-odds)
// is present; `groups` are index pairs [[side A], [side B]] (exclusiveGroups), read from the manifest's
// concepts.exclusive, which the site writes from runtime/opposites.py
const EPS = 1e-6;
function logOdds(p) { const q = Math.min(Math.max(p, EPS), 1 - EPS); return Math.log(q) - Math.log1p(-q); }

// aggregate.py's borderline_concepts: validated concepts whose song strength lies within their lossy margin of the
// threshold, in log-odds (present or not: the same song as MP3 may say the opposite); genre-named ones never
export function borderlineConcepts(names, strengths, thresholds, validation, named) {
  return names.filter((n, k) => {
    const r = validation[n] || {}, m = r.lossy_margin;
    if (named[n] || r.status !== "validated" || m === undefined || m === null) return false;
    return Math.abs(logOdds(strengths[k]) - logOdds(thresholds[k])) < m;
  });
}

export function exclusiveGroups(names, pairs) {
  const side = ns => [...new Set(ns.map(n => names.indexOf(n)).filter(i => i >= 0))].sort((x, y) => x - y);
  return (pairs || []).map(([a, b]) => [side(a), side(b)]).filter(([a, b]) => a.length && b.length && !a.some(i => b.includes(i)));
}

// opposites.py: opposites_of (the concepts on the other side of every pair that concept k is on)
export function oppositesOf(k, groups) { return groups.flatMap(([a, b]) => (a.includes(k) ? b : b.includes(k) ? a : [])); }

// values: K rows of N moments -> K rows of N booleans (present_mask)
export function presentMask(values, thresholds, groups, allowed) {
  const on = values.map((row, k) => Array.from(row, v => Number.isFinite(v) && v >= thresholds[k] && (!allowed || allowed[k])));
  const out = on.map(r => r.slice());
  const n = values.length ? values[0].length : 0;
  for (const [a, b] of groups) {
    for (let j = 0; j < n; j++) {
      const best = ks => ks.reduce((m, k) => on[k][j] ? Math.max(m, logOdds(values[k][j]) - logOdds(thresholds[k])) : m, -Infinity);
      const ma = best(a), mb = best(b);
      if (ma > -Infinity && mb > -Infinity) for (const k of (ma >= mb ? b : a)) out[k][j] = false;
    }
  }
  return out;
}

export function spansFromGrid(names, centres, probs, res, thresholds, minLen, maxGap, duration, on) {
  const out = [];
  names.forEach((name, i) => {
    const runs = [];
    probs[i].forEach((v, j) => {
      if (on ? !on[i][j] : !((Number.isFinite(v) ? v : 0) >= thresholds[i])) return;
      if (runs.length && (j - runs[runs.length - 1][1]) * res <= maxGap + res + 1e-9) runs[runs.length - 1][1] = j;
      else runs.push([j, j]);
    });
    for (const [a, b] of runs) {
      const start = centres[a] - res / 2, end = Math.min(centres[b] + res / 2, duration);
      if (end - start >= minLen) {
        const vals = probs[i].slice(a, b + 1).filter(Number.isFinite);
        out.push({ concept: name, start: round(start, 3), end: round(end, 3), strength: round(vals.reduce((x, y) => x + y, 0) / vals.length, 4) });
      }
    }
  });
  return out;
}

// timeline.py: spans_from_windows (present concepts whose frames make no span: the windows they are present in)
export function spansFromWindows(names, windows, wanted, maxGap, duration) {
  const out = [];
  names.forEach((name, k) => {
    if (!wanted.includes(name)) return;
    const runs = [];
    for (const [start, end, on, value] of windows.filter(w => w[2][k]).sort((a, b) => a[0] - b[0])) {
      const last = runs[runs.length - 1];
      if (last && start <= last[1] + maxGap + 1e-9) { last[1] = Math.max(last[1], end); last[2].push(value[k]); }
      else runs.push([start, end, [value[k]]]);
    }
    for (const [start, end, vals] of runs) {
      out.push({ concept: name, start: round(start, 3), end: round(Math.min(end, duration), 3), strength: round(vals.reduce((x, y) => x + y, 0) / vals.length, 4) });
    }
  });
  return out;
}

// timeline.py: clip_span (a span less the time the others cover; slivers under 10 ms dropped)
export function clipSpan(span, others) {
  let pieces = [[span.start, span.end]];
  for (const o of others) {
    pieces = pieces.flatMap(([a, b]) => [[a, Math.min(b, o.start)], [Math.max(a, o.end), b]]).filter(([a, b]) => b - a > 0.01);
  }
  return pieces.sort((x, y) => x[0] - y[0]).map(([a, b]) => ({ concept: span.concept, start: round(a, 3), end: round(b, 3), strength: span.strength }));
}

export class SongAggregator {
  constructor(m, rt) {
    const c = m.concepts || {};
    this.m = m; this.rt = rt;
    this.labels = m.labels; this.windowS = m.window_s;
    this.names = c.names || [];
    const thr = c.thresholds || this.names.map(() => 0.5);
    this.thresholds = thr.length === this.names.length ? thr.map(Number) : this.names.map(() => 0.5);
    this.tags = TagVocabulary.fromManifest(m);
    this.head = GenreHead.fromManifest(m);
    this.reasons = GenreHead.reasonsFromManifest(m) || this.head;  // the head whose contributions explain the genres
    this.multiLabel = !!m.multi_label;
    this.ood = DistanceToTraining.fromManifest(m); this.validation = validationOf(m);
    this.windows = []; this.logits = []; this.probs = []; this.windowConcepts = []; this.frames = []; this.windowTags = [];
    this.embeddings = [];
    this.duration = 0; this.audible = 0;
    this.exclusive = exclusiveGroups(this.names, c.exclusive);
    this.presentAny = null; this.lastPresent = null; this.windowOn = [];
    this.allowed = this.names.map((_, k) => this.mayBePresent(k));  // not failed: derived once, read per window
  }

  // false for a concept that failed its validation, whatever the bundle's concepts are (tags or CAVs)
  mayBePresent(k) { return statusOf(this.validation, this.names[k]) !== "failed"; }

  // K rows of N moments -> present (SongSettings.present_at)
  presentAt(values) { return presentMask(values, this.thresholds, this.exclusive, this.allowed); }

  // the concepts present in the last window added, genre-named ones left out (SongAggregator.window_present)
  windowPresent() {
    return this.lastPresent ? this.names.filter((n, k) => this.lastPresent[k] && !(this.tags && this.tags.genreNamed[k])) : [];
  }

  // one window: w {index, start, end}; out {logits, probabilities, concepts, concept_frames (K x T), embedding}, the
  // concept probes already appended (probes.js appendProbes)
  // w.samples: a silent window (runtime/silence.py) keeps its row, marked, with no reasons, and counts in nothing else
  add(w, out) {
    let p = out.probabilities, logits = out.logits;
    let concepts = out.concepts, frames = out.concept_frames, tags = null;
    if (!w.samples) throw new Error("SongAggregator.add: a window needs its samples (the silence gate)");
    const heard = !(levelDbfs(w.samples) < this.rt.silence_dbfs);
    if (heard) this.audible += 1;
    if (heard && this.ood && out.embedding) this.embeddings.push(Array.from(out.embedding));
    if (this.tags && concepts) {
      tags = concepts;
      concepts = this.tags.merge(tags);
      frames = frames ? this.tags.mergeFrames(frames) : null;
      if (this.head && !this.head.inGraph) { logits = this.head.logits(tags); p = softmax(logits); }
    }
    const j = argmax(p), label = this.labels[j];
    const wc = {};
    let on = null;  // this window's present concepts
    if (concepts && this.names.length) {
      on = this.presentAt(Array.from(concepts, v => [v])).map(r => r[0] && heard);  // nothing is present in silence
      this.presentAny = this.presentAny ? this.presentAny.map((x, k) => x || on[k]) : on;
      this.lastPresent = on;
      if (heard) this.windowOn.push([w.start, w.end, on, Array.from(concepts)]);
      this.names.forEach((n, k) => { wc[n] = round(concepts[k], 4); });
      if (heard) {
        this.windowConcepts.push(concepts);
        if (frames) this.frames.push([w.start, w.start + this.windowS, frames]);
      }
    }
    const wr = {
      index: w.index, start: round(w.start, 3), end: round(w.end, 3), genre: label, probability: p[j],
      probabilities: Object.fromEntries(this.labels.map((l, k) => [l, round(p[k], 6)])), concepts: wc, tags: {}, explanation: [],
      silent: !heard,
    };
    this.windows.push(wr);
    this.duration = Math.max(this.duration, w.end);
    if (tags) wr.tags = Object.fromEntries(this.tags.outputs.map((t, k) => [t, round(tags[k], 4)]));
    if (!heard) return wr;
    if (tags) {
      this.windowTags.push(tags);
      if (this.reasons) wr.explanation = this.reasons.explain(tags, label, this.rt.top_contributions, on).contributions;
    }
    this.logits.push(logits); this.probs.push(p);
    return wr;
  }

  genreProbabilities() { return this.multiLabel ? mean(this.probs) : softmax(mean(this.logits)); }

  // SongAggregator.frame_s, frame_resolution, smooth_s
  frameS() { return this.frames.length ? this.windowS / this.frames[0][2][0].length : this.windowS; }
  frameResolution() { return Math.min(1.0, this.frameS()); }
  smoothS() { return smoothingS(this.frameS(), this.rt.smooth_s); }

  conceptSpans(present) {
    const rt = this.rt;
    let spans = [];
    if (this.frames.length) {
      const res = this.frameResolution();
      // SongAggregator.concept_presence: the rule on each cell's own value, then the vote
      const [centres, probs] = framesToGrid(this.frames, this.duration, res);
      const valid = centres.map((_, j) => probs.some(row => Number.isFinite(row[j])));
      const on = voteGrid(this.presentAt(probs), valid, res, this.smoothS());
      spans = spansFromGrid(this.names, centres, probs, res, this.thresholds, Math.max(2 * res, rt.span_min_s),
        Math.max(res, rt.span_max_gap_s), this.duration, on).filter(s => present.includes(s.concept));
    }
    const placed = new Set(spans.map(s => s.concept));
    const missing = present.filter(n => !placed.has(n));
    if (missing.length && this.windowOn.length) {
      // a window-level span never overlaps a span of an opposite concept (opposites: one side at a moment)
      const grid = spans.slice();
      for (const sp of spansFromWindows(this.names, this.windowOn, missing, rt.span_max_gap_s, this.duration)) {
        const opposite = new Set(oppositesOf(this.names.indexOf(sp.concept), this.exclusive).map(j => this.names[j]));
        spans = spans.concat(clipSpan(sp, grid.filter(o => opposite.has(o.concept))));
      }
    }
    const rank = new Map(this.names.map((n, k) => [n, k]));
    return spans.sort((a, b) => (rank.get(a.concept) - rank.get(b.concept)) || (a.start - b.start));
  }

  // the JSON of `audioconcept-run --format json` (result.schema.json)
  result(path, info, topK) {
    if (!this.audible) throw new Error(`${path}: silence: every window is under ${this.rt.silence_dbfs} dBFS (runtime.silence); no music to classify`);
    const song = this.genreProbabilities(), ord = order(song).slice(0, Math.max(1, topK || this.rt.top_k));
    const res = {
      path, model: info.model, arch: info.arch, trained_on: info.trained_on, backend: info.backend, device: info.device,
      duration_s: round(this.duration, 3), genres: ord.map(i => ({ label: this.labels[i], probability: song[i] })),
      windows: this.windows, concepts: {}, concepts_present: [], concept_spans: [], timing_ms: {}, tags: {}, explanation: {},
      concept_validation: {}, similar_to: [], ood: {}, concepts_borderline: [], schema_version: 1,
    };
    if (this.windowConcepts.length) {
      const strength = colMax(this.windowConcepts);
      this.names.forEach((n, k) => { res.concepts[n] = round(strength[k], 4); });
      // present: in at least one window, by that window's rule, and somewhere on the timeline (SongAggregator.result)
      res.concept_spans = this.conceptSpans(this.names.filter((n, k) => this.presentAny[k]));
      const placed = new Set(res.concept_spans.map(sp => sp.concept));
      res.concepts_present = this.names.filter((n, k) => this.presentAny[k] && placed.has(n));
      const named = {};
      if (this.tags) this.tags.names.forEach((n, k) => { named[n] = this.tags.genreNamed[k]; });
      if (Object.keys(this.validation).length) {
        this.names.forEach(n => { res.concept_validation[n] = { ...conceptConfidence(this.validation[n]), genre_named: !!named[n] }; });
      }
      if (this.tags) {
        // genre-, style- or era-named concepts present are "similar to", strongest first (a stable sort, as Python's)
        res.similar_to = res.concepts_present.filter(n => named[n]).sort((a, b) => res.concepts[b] - res.concepts[a]);
        res.concepts_present = res.concepts_present.filter(n => !named[n]);
      }
      if (Object.keys(this.validation).length) {
        res.concepts_borderline = borderlineConcepts(this.names, strength, this.thresholds, this.validation, named);
      }
    }
    if (this.ood && this.embeddings.length) {
      res.ood = this.ood.judge(this.embeddings);
      if (res.ood.outside) res.ood.answer = OTHER;
    }
    if (this.windowTags.length) {
      const mx = colMax(this.windowTags);
      this.tags.outputs.forEach((t, k) => { res.tags[t] = round(mx[k], 4); });
      if (this.reasons) {
        const shown = new Set([...res.concepts_present, ...(res.similar_to || [])]);
        res.explanation = this.explanation(this.reasons.songInputs(this.windowTags), ord, this.reasons.vocab.names.map(n => shown.has(n)));
      }
    }
    return res;
  }

  // aggregate.py's explanation
  explanation(x, ord, present) {
    const r = this.reasons, out = { head: r.name, genres: ord.map(i => r.explainInputs(x, this.labels[i], undefined, present)) };
    if (this.head && this.head.name !== r.name) {
      const logits = this.labels.map((_, g) => r.intercept[g] + r.contributionsOf(x, g).reduce((a, b) => a + b, 0));
      const own = this.labels[argmax(logits)];
      Object.assign(out, { genres_from: this.head.name, reasons_genre: own, agrees: own === this.labels[ord[0]] });
      if (r.accuracy !== null) out.reasons_accuracy = r.accuracy;
    }
    if (r.typicalRule) out.typical_rule = r.typicalRule;  // what a genre's `typical` concepts rest on
    out.note = this.rt.explanation_note;
    return out;
  }
}
