// A result (the JSON of audioconcept-run --format json) -> the dict view.js draws: the fields of
// runtime/view.py's build_view that a page analysis has (no explain images, clips or attribution).
const r4 = x => Math.round(x * 1e4) / 1e4;

export function tcavRows(manifest) {
  const rows = ((manifest.concepts || {}).tcav || []).filter(r => r && typeof r === "object");
  return rows.map(r => ({
    class: r.class, concept: r.concept, layer: r.layer, score: r.tcav_sign, magnitude: r.tcav_magnitude,
    random: r.random_sign, p: r.p_value === undefined ? null : r.p_value, significant: !!r.significant, effect: r.effect || "",
  }));
}

export function viewFromResult(result, manifest, audioUrl) {
  const c = manifest.concepts || {};
  let names = c.names || [], genreNamed = {};
  if (c.kind === "tags") {
    names = [...result.concepts_present].sort((a, b) => (result.concepts[b] || 0) - (result.concepts[a] || 0));
    c.names.forEach((n, i) => { genreNamed[n] = !!c.genre_named[i]; });
  }
  const top = result.genres[0];
  return {
    title: result.path.split("/").pop(), model: result.model, arch: result.arch, trained_on: result.trained_on,
    backend: result.backend, device: result.device, duration_s: result.duration_s,
    labels: manifest.labels || Object.keys(result.windows[0].probabilities),
    genres: result.genres.map(g => ({ label: g.label, p: r4(g.probability) })),
    song_top: top.label, song_top_p: r4(top.probability),
    windows: result.windows.map(w => ({
      start: w.start, end: w.end, genre: w.genre, p: r4(w.probability), probabilities: w.probabilities,
      explanation: (w.explanation || []).slice(0, 3), silent: !!w.silent,
    })),
    concepts: result.concepts,
    concepts_present: [...result.concepts_present].sort((a, b) => (result.concepts[b] || 0) - (result.concepts[a] || 0)),
    concept_validation: result.concept_validation || {}, similar_to: result.similar_to || [],
    concepts_borderline: result.concepts_borderline || [],
    ood: result.ood && Object.keys(result.ood).length ? result.ood : null,
    concept_names: names, genre_named: genreNamed,
    explanation: result.explanation && result.explanation.head ? result.explanation : null,
    spans: result.concept_spans.map(s => ({ concept: s.concept, start: s.start, end: s.end, strength: Math.round(s.strength * 1000) / 1000 })),
    tcav: tcavRows(manifest), audio: audioUrl || null, images: {}, clips: [],
  };
}
