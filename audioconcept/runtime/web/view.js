// AudioConcept song view: renders one analysis (see audioconcept/runtime/view.py) into an element.
// Used by the web app and inlined into the self-contained HTML report. No dependencies.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

function fmt(x, d = 2) { return (x === null || x === undefined) ? "n/a" : Number(x).toFixed(d); }
// a contribution with its sign: "+0.61", "-0.40", and "0.00" for one that rounds to nothing (never "-0.00")
function signed(x) { const t = fmt(x); return Number(t) === 0 ? fmt(0) : (x > 0 ? "+" : "") + t; }

// Play [start, end) of the song in the main player.
function playSegment(player, start, end) {
  if (!player) return;
  player.dataset.segmentEnd = String(end);
  player.currentTime = start;
  const p = player.play();
  if (p && p.catch) p.catch(() => {});  // autoplay may be refused; the start time is still set
}

// A genre's colour: the view's own map (view.py's genre_colours, the PNG's too), else its index in the palette.
const SILENCE = "silence", SILENCE_COLOUR = "#d9d9d9";  // a silent window (runtime/silence.py): no genre
function genreColour(view, genre) {
  if (genre === SILENCE) return SILENCE_COLOUR;
  if (view.colours && view.colours[genre]) return view.colours[genre];
  return PALETTE[Math.max(0, view.labels.indexOf(genre)) % PALETTE.length];
}

// Concepts present, strongest first.
function presentByStrength(view) {
  const s = view.concepts || {};
  return [...(view.concepts_present || [])].sort((a, b) => (s[b] || 0) - (s[a] || 0));
}

// Where each window's genre is drawn: the cell view.py computed (centred on what the model hears), or, from an
// older view, from its start to the next window's start.
function windowCell(view, w, k) {
  if (w.cell) return { start: w.cell[0], end: w.cell[1], heard: w.heard || [w.start, w.end] };
  const next = view.windows[k + 1];
  return { start: w.start, end: next ? Math.min(w.end, next.start) : w.end, heard: [w.start, w.end] };
}

function renderTimeline(view, player) {
  const rows = [{ name: "genre (per window)", kind: "windows" }];
  const names = view.concept_names.length ? view.concept_names : [...new Set(view.spans.map(s => s.concept))];
  const present = new Set(view.concepts_present || []);
  for (const n of names) rows.push({ name: n, kind: "concept" });
  const W = 900, left = 150, right = 28, rowH = 22, top = 6, dur = Math.max(view.duration_s, 1e-3);
  const H = top + rows.length * rowH + 24;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "img", "aria-label": "concept timeline" });
  const x = t => left + (W - left - right) * t / dur;
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const absent = r.kind === "concept" && present.size && !present.has(r.name);
    const label = svgEl("text", { x: left - 6, y: y + rowH * 0.65, "text-anchor": "end", class: "row-label" + (absent ? " absent" : "") });
    label.textContent = r.name;
    svg.append(label);
    svg.append(svgEl("rect", { x: left, y: y + 2, width: W - left - right, height: rowH - 4, class: "lane" }));
    let segs;
    if (r.kind === "windows") {
      segs = view.windows.map((w, k) => {
        const c = windowCell(view, w, k);
        return { start: c.start, end: c.end, play: c.heard, fill: genreColour(view, w.genre), title: `${w.genre} ${fmt(w.p)} (window ${fmt(w.start, 1)}-${fmt(w.end, 1)} s, heard ${fmt(c.heard[0], 1)}-${fmt(c.heard[1], 1)} s)` };
      });
    } else {
      segs = view.spans.filter(s => s.concept === r.name).map(s => ({ start: s.start, end: s.end, fill: "#3b7", opacity: 0.35 + 0.65 * s.strength, title: `${s.concept} ${fmt(s.strength)} (${fmt(s.start, 1)}-${fmt(s.end, 1)} s)` }));
    }
    for (const s of segs) {
      const [a, b] = s.play || [s.start, s.end];
      const attrs = {
        x: x(s.start), y: y + 3, width: Math.max(2, x(s.end) - x(s.start) - 1), height: rowH - 6,
        class: "segment", "data-start": a, "data-end": b, "data-row": r.name, tabindex: 0,
        fill: s.fill, "fill-opacity": s.opacity || 0.9,
      };
      const rect = svgEl("rect", attrs);
      const t = svgEl("title", {}); t.textContent = s.title + ": click to play"; rect.append(t);
      rect.addEventListener("click", () => playSegment(player, a, b));
      svg.append(rect);
    }
  });
  if (player) {  // playback cursor: follows the player along the timeline
    const cursor = svgEl("line", { x1: left, x2: left, y1: top, y2: top + rows.length * rowH, class: "cursor" });
    svg.append(cursor);
    const move = () => { const cx = x(Math.min(player.currentTime || 0, dur)); cursor.setAttribute("x1", cx); cursor.setAttribute("x2", cx); };
    for (const ev of ["timeupdate", "seeked"]) player.addEventListener(ev, move);
  }
  const yAxis = top + rows.length * rowH + 14;
  const step = dur > 240 ? 30 : dur > 120 ? 20 : dur > 40 ? 10 : 5;
  for (let t = 0; t <= dur + 1e-6; t += step) {
    const anchor = x(t) + 14 > W ? "end" : "middle";  // the last label ends at the edge instead of past it
    const tx = svgEl("text", { x: x(t), y: yAxis, "text-anchor": anchor, class: "tick" });
    tx.textContent = `${t}s`;
    svg.append(tx);
  }
  return svg;
}

function swatch(cls, style) { return el("span", { class: "swatch " + cls, style: style || "" }); }

function renderLegend(view) {
  const box = el("div", { class: "legend" });
  const seen = new Set(view.windows.map(w => w.genre));
  const genres = el("span", { class: "legend-group" }, el("b", { text: "genre:" }));
  for (const g of [...view.labels.filter(l => seen.has(l)), ...(seen.has(SILENCE) ? [SILENCE] : [])])
    genres.append(el("span", { class: "legend-item" }, swatch("", `background:${genreColour(view, g)}`), g));
  box.append(genres);
  if (view.spans.length) {
    box.append(el("span", { class: "legend-group" },
      el("span", { class: "legend-item" }, swatch("concept"), "concept heard there (darker: stronger)")));
  }
  const w = view.windows[0];
  if (w && w.heard) {
    const heard = w.heard[1] - w.heard[0], len = w.end - w.start;
    box.append(el("span", { class: "legend-note muted", text: heard < len - 0.05
      ? `Each window's genre is drawn centred on the first ${fmt(heard, 1)} s of its ${fmt(len, 1)} s window, the part the model hears (its receptive field).`
      : `Each window's genre is drawn centred on its ${fmt(len, 1)} s window.` }));
  }
  return box;
}

function renderGenres(view) {
  const box = el("div", { class: "genres" });
  for (const g of view.genres) {
    box.append(el("div", { class: "bar-row" },
      el("span", { class: "bar-label", text: g.label }),
      el("span", { class: "bar" }, el("span", { class: "bar-fill", style: `width:${(100 * g.p).toFixed(1)}%` })),
      el("span", { class: "bar-value", text: fmt(g.p) })));
  }
  return box;
}

function windowTable(view, player, windows) {
  const table = el("table", { class: "windows" });
  const head = el("tr", {}, el("th", { text: "window" }));
  for (const lab of view.labels) head.append(el("th", { text: lab }));
  const why = windows.some(w => w.explanation && w.explanation.length);
  if (why) head.append(el("th", { text: "why (concepts present that speak for the genre)" }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const w of windows) {
    const tr = el("tr", { class: "window-row", "data-start": w.start, onclick: () => playSegment(player, w.start, w.end) },
      el("td", { text: `${fmt(w.start, 1)}-${fmt(w.end, 1)} s` }));
    for (const lab of view.labels) {
      const p = w.probabilities[lab] || 0;
      if (w.genre === SILENCE) tr.append(el("td", { class: "muted", text: "-" }));  // no genre in silence
      else tr.append(el("td", { style: `background:rgba(78,121,167,${p.toFixed(3)})`, text: fmt(p) }));
    }
    if (why) {
      const text = w.genre === SILENCE ? SILENCE : contributionText(w.explanation || [], true);
      tr.append(el("td", { class: "why", title: text, text }));
    }
    body.append(tr);
  }
  table.append(body);
  return table;
}

// Consecutive windows with the same top genre, one run each.
function genreRuns(view) {
  const runs = [];
  view.windows.forEach((w, k) => {
    const c = windowCell(view, w, k);
    const last = runs[runs.length - 1];
    if (last && last.genre === w.genre) { last.windows.push(w); last.end = c.end; last.heardEnd = c.heard[1]; }
    else runs.push({ genre: w.genre, start: c.start, end: c.end, heardStart: c.heard[0], heardEnd: c.heard[1], windows: [w] });
  });
  return runs;
}

const REASON_MIN = 0.005;  // tag_concepts.py's REASON_MIN: a smaller share of the logit is no reason
const WINDOW_ROWS = 12;  // more windows than this: one row per run of one genre, every window behind a fold

function renderWindowTable(view, player) {
  if (view.windows.length <= WINDOW_ROWS) return el("div", { class: "scroll" }, windowTable(view, player, view.windows));
  const runs = genreRuns(view);
  const why = view.windows.some(w => w.explanation && w.explanation.length);
  const table = el("table", { class: "runs" });
  const heads = ["time", "genre", "windows", "mean p", ...(why ? ["why (its surest window)"] : [])];
  table.append(el("thead", {}, el("tr", {}, ...heads.map(h => el("th", { text: h })))));
  const body = el("tbody");
  for (const r of runs) {
    const best = r.windows.reduce((a, b) => (b.p > a.p ? b : a));
    const mean = r.windows.reduce((a, w) => a + w.p, 0) / r.windows.length;
    const text = contributionText(best.explanation || [], true);
    body.append(el("tr", { class: "run-row", "data-start": r.heardStart, onclick: () => playSegment(player, r.heardStart, r.heardEnd) },
      el("td", { text: `${fmt(r.start, 1)}-${fmt(r.end, 1)} s` }),
      el("td", { class: "genre-cell" }, swatch("", `background:${genreColour(view, r.genre)}`), r.genre),
      el("td", { text: String(r.windows.length) }),
      el("td", { text: r.genre === SILENCE ? "-" : fmt(mean) }),
      why ? el("td", { class: "why", title: text, text }) : null));
  }
  table.append(body);
  const all = el("details", { class: "all-windows" },
    el("summary", { text: `All ${view.windows.length} windows` }),
    el("div", { class: "scroll tall" }, windowTable(view, player, view.windows)));
  return el("div", {},
    el("p", { class: "muted", text: `${view.windows.length} windows in ${runs.length} runs of one genre; click a row to play it.` }),
    el("div", { class: "scroll" }, table), all);
}

// Each concept present with its validation: precision at its threshold and AUC on held-out renders, AUC on real
// recordings, or a mark when it was not validated (?) or failed validation (✗, never present).
function confidenceText(v) {
  if (!v || v.status === "not validated") return "? not validated";
  if (v.status === "failed") return "✗ failed validation";
  const parts = [];
  if (v.precision !== null && v.precision !== undefined) parts.push(`precision ${fmt(v.precision)}`);
  if (v.auc !== null && v.auc !== undefined && v.precision !== null && v.precision !== undefined) parts.push(`AUC ${fmt(v.auc)}`);
  if (v.real_auc !== null && v.real_auc !== undefined) parts.push(`real AUC ${fmt(v.real_auc)}`);
  return parts.join(", ") || "validated";
}

// as result.py's BORDERLINE_NOTE (the CLI's table note and the live summary)
const BORDERLINE_NOTE = "within its lossy margin of the threshold (the same song as MP3 may say otherwise)";
const BORDERLINE_TITLE = "; borderline: " + BORDERLINE_NOTE;

function renderConfidence(view) {
  const table = el("table", { class: "confidence", id: "confidence" });
  table.append(el("thead", {}, el("tr", {}, ...["concept", "strength", "confidence"].map(h => el("th", { text: h })))));
  const body = el("tbody");
  const val = view.concept_validation || {};
  const borderline = new Set(view.concepts_borderline || []);
  const present = presentByStrength(view);
  for (const c of present) {
    const v = val[c];
    body.append(el("tr", { class: v ? "status-" + v.status.replace(" ", "-") : "" },
      el("td", { text: c + ((view.genre_named || {})[c] ? " †" : "") }),
      el("td", { text: fmt(view.concepts[c]) }),
      el("td", { text: Object.keys(val).length ? confidenceText(v) + (borderline.has(c) ? " · borderline" : "") : "",
                 title: v ? (v.text || "") + (borderline.has(c) ? BORDERLINE_TITLE : "") : "" })));
  }
  table.append(body);
  if (present.some(c => borderline.has(c))) {
    table.append(el("caption", { class: "muted", text: "· borderline: " + BORDERLINE_NOTE }));
  }
  return table;
}

// A genre's logit split into named concepts: one bar per contribution; genre-named concepts hatched.
// with rows that say whether their concept is present and `reasons`: only the reasons (present, speaking for the
// genre), as the CLI's why column (tag_concepts.py's describe_contributions)
function contributionText(cs, reasons = false) {
  if (reasons && cs.some(c => "present" in c)) {
    cs = cs.filter(c => c.present && c.value >= REASON_MIN);
    if (!cs.length) return "no concept present speaks for it";
  }
  return cs.map(c => `${c.direction === "less" ? "less " : ""}${c.concept}${c.genre_named ? "†" : ""} ${signed(c.value)}`).join(", ");
}

// ✗ a concept that failed its check against audio with known content, ? one never checked (as the CLI's table marks
// reasons): they weigh in the head all the same, so they are shown, marked.
function validationMark(view, concept) {
  const v = (view.concept_validation || {})[concept];
  if (!v) return "";
  return v.status === "failed" ? " ✗" : v.status === "not validated" && !v.genre_named ? " ?" : "";
}

function renderExplanation(view) {
  const ex = view.explanation;
  const box = el("div", { class: "explanation" });
  box.append(el("p", { class: "muted", text: `Head "${ex.head}": a genre's logit is its intercept plus one contribution per named concept (weight × how much more the song has of it than the average training song). The reasons come first: the concepts present in the song that speak for the genre; the other contributions follow, marked "not present" where the song does not have the concept. † and hatched bars: concepts named after a genre, style or era, which make an explanation partly circular. ✗: the concept failed its check against audio with known content; ?: it was never checked.` }));
  if (ex.genres_from) {
    const acc = ex.reasons_accuracy !== undefined && ex.reasons_accuracy !== null ? `, ${fmt(ex.reasons_accuracy)} cross-validated` : "";
    const verdict = ex.agrees ? "chooses the same genre" : `alone would choose ${ex.reasons_genre}`;
    box.append(el("p", { class: "reasons-head", text: `Genres from head "${ex.genres_from}"; reasons from head "${ex.head}" (validated musical concepts only, non-negative weights${acc}), which ${verdict}.` }));
  }
  const near = new Set(view.concepts_borderline || []);  // within their lossy margin of the threshold
  for (const g of ex.genres) {
    // a contribution that prints as 0.00 draws no bar and says nothing (tag_concepts.py's REASON_MIN is the same line)
    const shown = g.contributions.filter(c => Math.abs(c.value) >= 0.005).slice(0, 8);
    const scale = Math.max(...shown.map(c => Math.abs(c.value)), 1e-6);
    const rows = el("div", { class: "contribs" });
    for (const c of shown) {
      const w = (100 * Math.abs(c.value) / scale).toFixed(1);
      rows.append(el("div", { class: "bar-row contrib" + (c.genre_named ? " genre-named" : "") },
        el("span", { class: "bar-label", text: (c.direction === "less" ? "less " : "") + c.concept + (c.genre_named ? " †" : "") + validationMark(view, c.concept) + (c.present === false ? (near.has(c.concept) ? " (not present, borderline)" : " (not present)") : "") }),
        el("span", { class: "cbar" }, el("span", { class: "cbar-fill " + (c.value >= 0 ? "pos" : "neg"), style: `width:${w}%` })),
        el("span", { class: "bar-value", text: signed(c.value) })));
    }
    box.append(el("h3", { text: `${g.genre}: logit ${fmt(g.logit)} = intercept ${fmt(g.intercept)} + contributions` }), rows);
    if (g.typical && g.typical.length)  // tag_concepts.py's typical_of: beside the reasons, never in the logit
      box.append(el("p", { class: "typical" }, `Typical of ${g.genre}, and present in this song: ${g.typical.map(t => `${t.concept} (${Math.round(100 * t.effect)} % of pairs)`).join(", ")}; it adds nothing to the logit.${ex.typical_rule ? ` Typical: ${ex.typical_rule}.` : ""}`));
    if (g.similar_to && g.similar_to.length)
      box.append(el("p", { class: "muted similar-to" }, `Similar to (named after a genre, style or era; not a reason): ${contributionText(g.similar_to.slice(0, 5))}`));
    if (g.failed && g.failed.length)
      box.append(el("p", { class: "muted failed-reasons" }, `Weighs in the head but failed its check against audio with known content (not a reason): ${contributionText(g.failed.slice(0, 5))}`));
  }
  return box;
}

function renderTcav(view) {
  if (!view.tcav.length) return el("p", { class: "muted", text: "This bundle carries no TCAV table (export with --concepts)." });
  const table = el("table", { class: "tcav" });
  table.append(el("thead", {}, el("tr", {}, ...["class", "concept", "layer", "TCAV (sign)", "magnitude", "random", "p", ""].map(h => el("th", { text: h })))));
  const body = el("tbody");
  const rows = [...view.tcav].sort((a, b) => (b.significant - a.significant) || (a.p - b.p));
  for (const r of rows) {
    const mark = r.significant ? (r.effect === "-" ? "significant (−)" : "significant ✓") : "";
    body.append(el("tr", { class: r.significant ? "sig" : "" },
      ...[r.class, r.concept, r.layer, fmt(r.score), fmt(r.magnitude), fmt(r.random), r.p === null ? "n/a" : Number(r.p).toExponential(1), mark].map(v => el("td", { text: String(v) }))));
  }
  table.append(body);
  return table;
}

// The SVM's exact Shapley values over feature groups, drawn from the values (no PNG needed).
function renderShapley(sh) {
  const items = Object.entries(sh.phi).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const scale = Math.max(...items.map(([, v]) => Math.abs(v)), 1e-6);
  const rows = el("div", { class: "contribs shapley" });
  for (const [name, v] of items) {
    rows.append(el("div", { class: "bar-row contrib" },
      el("span", { class: "bar-label", text: name }),
      el("span", { class: "cbar" }, el("span", { class: "cbar-fill " + (v >= 0 ? "pos" : "neg"), style: `width:${(100 * Math.abs(v) / scale).toFixed(1)}%` })),
      el("span", { class: "bar-value", text: (v >= 0 ? "+" : "") + fmt(v, 3) })));
  }
  const w = sh.window || [];
  const where = w.length ? ` (${fmt(w[0], 1)}-${fmt(w[1], 1)} s)` : "";
  return el("div", {},
    el("p", { class: "muted", text: `P(${sh.label}) goes from the baseline ${fmt(sh.baseline, 3)} to ${fmt(sh.prediction, 3)} on this song${where}; each feature group's share:` }),
    rows);
}

function section(title, ...children) {
  return el("section", {}, el("h2", { text: title }), ...children);
}

function renderView(root, view) {
  root.replaceChildren();
  // a silent window shows "silence", with no probability and no reasons, in the timeline, the legend and the table
  view = { ...view, windows: view.windows.map(w => (w.silent ? { ...w, genre: SILENCE, p: null, explanation: [] } : w)) };
  const player = view.audio ? el("audio", { id: "player", controls: "", preload: "auto", src: view.audio }) : null;
  if (player) {
    player.addEventListener("timeupdate", () => {
      const end = parseFloat(player.dataset.segmentEnd || "NaN");
      if (!isNaN(end) && player.currentTime >= end) { player.pause(); delete player.dataset.segmentEnd; }
    });
  }
  root.append(el("header", { class: "song" },
    el("h1", { text: view.title }),
    el("p", { class: "muted", text: `${view.model} (${view.arch}, trained on ${view.trained_on || "?"}) via ${view.backend} on ${view.device}; ${fmt(view.duration_s, 1)} s` }),
    el("p", { class: "verdict", id: "song-genre", text: `${view.song_top} ${fmt(view.song_top_p)}` }),
    player));
  root.append(section("Genre, whole song", renderGenres(view)));
  if (view.explanation) root.append(section("Why: the genres split into named concepts", renderExplanation(view)));
  root.append(section("Timeline (click a segment to play it)", renderLegend(view), renderTimeline(view, player)));
  const present = presentByStrength(view);
  if (present.length)
    root.append(el("p", { class: "present" }, `Concepts present, strongest first: ${present.map(c => `${c}${(view.genre_named || {})[c] ? " †" : ""} (${fmt(view.concepts[c])})`).join(", ")}`));
  if (view.ood && view.ood.outside)
    root.append(el("p", { class: "verdict ood", id: "ood", text: `${view.ood.answer || "other / none of these"}: far from the music the genre head was trained on (distance ${fmt(view.ood.distance)} > ${fmt(view.ood.threshold)}); the genres above are only the nearest` }));
  if (present.length && Object.keys(view.concept_validation || {}).length)
    root.append(section("Concepts present, with their confidence", renderConfidence(view)));
  if (view.similar_to && view.similar_to.length)
    root.append(el("p", { id: "similar-to" }, `Similar to (genre-, style- or era-named tags, not reasons): ${view.similar_to.join(", ")}`));
  if (view.note) root.append(el("p", { class: "muted", text: view.note }));
  root.append(section("Genre per window", renderWindowTable(view, player)));
  if (view.clips.length) {
    const list = el("div", { class: "clips" });
    for (const c of view.clips) {
      list.append(el("figure", { class: "clip" },
        el("figcaption", { text: `${c.concept}: ${fmt(c.start, 1)}-${fmt(c.end, 1)} s (strength ${fmt(c.strength)})` }),
        el("audio", { controls: "", preload: "none", src: c.url })));
    }
    root.append(section("Listen: the strongest concept moments", list));
  }
  const imgs = view.images || {};
  if (imgs.attribution) {
    const a = view.attribution || {};
    root.append(section(`Where the decision comes from (${a.method === "gxi" ? "gradient × input" : "integrated gradients"}, towards ${a.target || view.song_top})`,
      el("img", { src: imgs.attribution, alt: "attribution heat map on the mel spectrogram", class: "figure", id: "attribution" })));
  }
  if (imgs.shapley) root.append(section("Feature groups (exact Shapley values)", el("img", { src: imgs.shapley, alt: "Shapley waterfall", class: "figure", id: "shapley" })));
  else if (view.shapley && view.shapley.phi) root.append(section("Feature groups (exact Shapley values)", renderShapley(view.shapley)));
  if (imgs.timeline) root.append(section("Timeline figure", el("img", { src: imgs.timeline, alt: "timeline", class: "figure" })));
  root.append(section("TCAV: concepts the model's genres rest on", renderTcav(view)));
  root.dataset.ready = "1";
}

if (typeof module !== "undefined") module.exports = { renderView };
