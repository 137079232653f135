// Concept probes and concept validation, as audioconcept/runtime/concept_probes.py computes them: linear probes on
// the graph's embedding (p = sigmoid(w . e + b)) appended after the graph's tag outputs, and each concept's
// validation record (status, AUC, precision, data) with its one-line text. Every figure comes from the manifest.

export const PROBE_PREFIX = "probe:";

// 0.5 * (1 + tanh(x / 2)), as the Python runtime writes the sigmoid
export function sigmoid(x) { return 0.5 * (1 + Math.tanh(0.5 * x)); }

export class ConceptProbes {
  constructor(p) {
    this.names = p.names.map(String); this.weights = p.weights; this.bias = p.bias.map(Number);
    this.input = String(p.input || "embedding");
    if (this.weights.length !== this.names.length || this.bias.length !== this.names.length)
      throw new Error(`concept probes: ${this.names.length} names, ${this.weights.length} weight rows, ${this.bias.length} biases`);
  }
  static fromManifest(m) {
    const p = (m.concepts || {}).probes;
    return p && p.names && p.names.length ? new ConceptProbes(p) : null;
  }
  get outputs() { return this.names.map(n => PROBE_PREFIX + n); }
  // one embedding (D) -> K probabilities
  predict(e) {
    const d = this.weights[0].length;
    if (e.length !== d) throw new Error(`concept probes take a ${d}-wide ${this.input}; the model gave ${e.length}`);
    return this.weights.map((w, k) => { let s = 0; for (let i = 0; i < d; i++) s += e[i] * w[i]; return sigmoid(s + this.bias[k]); });
  }
}

// model.py's append_probes for one window: the probes' probabilities after the graph's concept outputs, and as
// constant frames over the window
export function appendProbes(out, probes) {
  if (!probes) return out;
  if (!out.embedding || !out.concepts) throw new Error("the bundle has concept probes, but its model gives no embedding or concepts");
  const p = probes.predict(out.embedding);
  const frames = out.concept_frames ? [...out.concept_frames, ...p.map(v => new Array(out.concept_frames[0].length).fill(v))] : out.concept_frames;
  return { ...out, concepts: [...out.concepts, ...p], concept_frames: frames };
}

export function validationOf(m) {
  const v = (m.concepts || {}).validation || {};
  return Object.fromEntries(Object.entries(v).filter(([, r]) => r && typeof r === "object" && !Array.isArray(r)));
}

export function statusOf(validation, name) {
  const r = validation[name];
  return r ? String(r.status === undefined ? "not validated" : r.status) : "not validated";
}

// Python's f"{x:.2f}": toFixed, but exact ties (k/8, k odd) round half to even
function fixed2(x) {
  const e = x * 8;
  if (Number.isInteger(e) && Math.abs(e) % 2 === 1) {
    const c = x * 100, lo = Math.floor(c);
    return ((lo % 2 === 0 ? lo : lo + 1) / 100).toFixed(2);
  }
  return x.toFixed(2);
}

const given = v => v !== null && v !== undefined;

// concept_probes.py's confidence_text
export function confidenceText(r) {
  if (!r) return "not validated";
  const parts = [];
  if (given(r.auc)) parts.push(`AUC ${fixed2(r.auc)}`);
  if (given(r.precision)) parts.push(`precision ${fixed2(r.precision)} at its threshold`);
  if (given(r.real_auc)) parts.push(`real-recording AUC ${fixed2(r.real_auc)}`);
  const figures = parts.join(", ");
  return `${given(r.status) ? r.status : "not validated"}${figures ? `: ${figures}` : ""}${r.data ? ` (${r.data})` : ""}`;
}

// aggregate.py's concept_confidence
export function conceptConfidence(record) {
  const r = record || {}, get = k => (r[k] === undefined ? null : r[k]);
  return {
    status: r.status === undefined ? "not validated" : r.status, source: get("source"), auc: get("auc"),
    precision: get("precision"), real_auc: get("real_auc"), data: get("data"), text: confidenceText(record),
    lossy_margin: get("lossy_margin"),
  };
}
