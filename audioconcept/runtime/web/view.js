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

// Play [start, end) of the song in the main player.
function playSegment(player, start, end) {
  if (!player) return;
  player.dataset.segmentEnd = String(end);
  player.currentTime = start;
  const p = player.play();
  if (p && p.catch) p.catch(() => {});  // autoplay may be refused; the start time is still set
}

function renderTimeline(view, player) {
  const rows = [{ name: "genre (per window)", kind: "windows" }];
  const names = view.concept_names.length ? view.concept_names : [...new Set(view.spans.map(s => s.concept))];
  for (const n of names) rows.push({ name: n, kind: "concept" });
  const W = 900, left = 150, rowH = 22, top = 6, dur = Math.max(view.duration_s, 1e-3);
  const H = top + rows.length * rowH + 24;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "img", "aria-label": "concept timeline" });
  const x = t => left + (W - left - 10) * t / dur;
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const label = svgEl("text", { x: left - 6, y: y + rowH * 0.65, "text-anchor": "end", class: "row-label" });
    label.textContent = r.name;
    svg.append(label);
    svg.append(svgEl("rect", { x: left, y: y + 2, width: W - left - 10, height: rowH - 4, class: "lane" }));
    const segs = r.kind === "windows"
      ? view.windows.map((w, k) => ({ start: w.start, end: k + 1 < view.windows.length ? Math.min(w.end, view.windows[k + 1].start) : w.end, fill: PALETTE[view.labels.indexOf(w.genre) % PALETTE.length], title: `${w.genre} ${fmt(w.p)} (${fmt(w.start, 1)}-${fmt(w.end, 1)} s)` }))
      : view.spans.filter(s => s.concept === r.name).map(s => ({ start: s.start, end: s.end, fill: "#3b7", opacity: 0.35 + 0.65 * s.strength, title: `${s.concept} ${fmt(s.strength)} (${fmt(s.start, 1)}-${fmt(s.end, 1)} s)` }));
    for (const s of segs) {
      const rect = svgEl("rect", {
        x: x(s.start), y: y + 3, width: Math.max(2, x(s.end) - x(s.start) - 1), height: rowH - 6,
        fill: s.fill, "fill-opacity": s.opacity || 0.9, class: "segment",
        "data-start": s.start, "data-end": s.end, "data-row": r.name, tabindex: 0,
      });
      const t = svgEl("title", {}); t.textContent = s.title + ": click to play"; rect.append(t);
      rect.addEventListener("click", () => playSegment(player, s.start, s.end));
      svg.append(rect);
    }
  });
  const yAxis = top + rows.length * rowH + 14;
  const step = dur > 120 ? 30 : dur > 40 ? 10 : 5;
  for (let t = 0; t <= dur + 1e-6; t += step) {
    const tx = svgEl("text", { x: x(t), y: yAxis, "text-anchor": "middle", class: "tick" });
    tx.textContent = `${t}s`;
    svg.append(tx);
  }
  return svg;
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

function renderWindowTable(view, player) {
  const table = el("table", { class: "windows" });
  const head = el("tr", {}, el("th", { text: "window" }));
  for (const lab of view.labels) head.append(el("th", { text: lab }));
  const why = view.windows.some(w => w.explanation && w.explanation.length);
  if (why) head.append(el("th", { text: "why (top named contributions)" }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const w of view.windows) {
    const tr = el("tr", { class: "window-row", "data-start": w.start, onclick: () => playSegment(player, w.start, w.end) },
      el("td", { text: `${fmt(w.start, 1)}-${fmt(w.end, 1)} s` }));
    for (const lab of view.labels) {
      const p = w.probabilities[lab] || 0;
      tr.append(el("td", { style: `background:rgba(78,121,167,${p.toFixed(3)})`, text: fmt(p) }));
    }
    if (why) tr.append(el("td", { class: "why", text: contributionText(w.explanation || []) }));
    body.append(tr);
  }
  table.append(body);
  return table;
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

function renderConfidence(view) {
  const table = el("table", { class: "confidence", id: "confidence" });
  table.append(el("thead", {}, el("tr", {}, ...["concept", "strength", "confidence"].map(h => el("th", { text: h })))));
  const body = el("tbody");
  const val = view.concept_validation || {};
  for (const c of view.concepts_present) {
    const v = val[c];
    body.append(el("tr", { class: v ? "status-" + v.status.replace(" ", "-") : "" },
      el("td", { text: c + ((view.genre_named || {})[c] ? " †" : "") }),
      el("td", { text: fmt(view.concepts[c]) }),
      el("td", { text: Object.keys(val).length ? confidenceText(v) : "", title: v ? (v.text || "") : "" })));
  }
  table.append(body);
  return table;
}

// A genre's logit split into named concepts: one bar per contribution; genre-named concepts hatched.
function contributionText(cs) {
  return cs.map(c => `${c.direction === "less" ? "less " : ""}${c.concept}${c.genre_named ? "†" : ""} ${c.value >= 0 ? "+" : ""}${fmt(c.value)}`).join(", ");
}

function renderExplanation(view) {
  const ex = view.explanation;
  const box = el("div", { class: "explanation" });
  box.append(el("p", { class: "muted", text: `Head "${ex.head}": a genre's logit is its intercept plus one contribution per named concept (weight × how much more the song has of it than the average training song). † and hatched bars: concepts named after a genre, style or era, which make an explanation partly circular.` }));
  for (const g of ex.genres) {
    const shown = g.contributions.slice(0, 8);
    const scale = Math.max(...shown.map(c => Math.abs(c.value)), 1e-6);
    const rows = el("div", { class: "contribs" });
    for (const c of shown) {
      const w = (100 * Math.abs(c.value) / scale).toFixed(1);
      rows.append(el("div", { class: "bar-row contrib" + (c.genre_named ? " genre-named" : "") },
        el("span", { class: "bar-label", text: (c.direction === "less" ? "less " : "") + c.concept + (c.genre_named ? " †" : "") }),
        el("span", { class: "cbar" }, el("span", { class: "cbar-fill " + (c.value >= 0 ? "pos" : "neg"), style: `width:${w}%` })),
        el("span", { class: "bar-value", text: (c.value >= 0 ? "+" : "") + fmt(c.value) })));
    }
    box.append(el("h3", { text: `${g.genre}: logit ${fmt(g.logit)} = intercept ${fmt(g.intercept)} + contributions` }), rows);
    if (g.similar_to && g.similar_to.length)
      box.append(el("p", { class: "muted similar-to" }, `Similar to (named after a genre, style or era; not a reason): ${contributionText(g.similar_to.slice(0, 5))}`));
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

function section(title, ...children) {
  return el("section", {}, el("h2", { text: title }), ...children);
}

function renderView(root, view) {
  root.replaceChildren();
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
  root.append(section("Timeline (click a segment to play it)", renderTimeline(view, player)));
  if (view.ood && view.ood.outside)
    root.append(el("p", { class: "verdict ood", id: "ood", text: `${view.ood.answer || "other / none of these"}: far from the music the genre head was trained on (distance ${fmt(view.ood.distance)} > ${fmt(view.ood.threshold)}); the genres above are only the nearest` }));
  if (view.concepts_present && view.concepts_present.length)
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
  if (imgs.timeline) root.append(section("Timeline figure", el("img", { src: imgs.timeline, alt: "timeline", class: "figure" })));
  root.append(section("TCAV: concepts the model's genres rest on", renderTcav(view)));
  root.dataset.ready = "1";
}

if (typeof module !== "undefined") module.exports = { renderView };
