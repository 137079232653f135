// AudioConcept in the browser: `await analyse(fileOrUrl, {model})` resolves to the JSON of
// `audioconcept-run --format json` (result.schema.json). An ES module that imports without the page:
//   import { analyse } from "https://host/site/audioconcept.js";
// It decodes with WebAudio, cuts windows as the Python runtime does, runs the numpy front end in JS and the
// bundle's mel body with onnxruntime-web (WASM; threads when the page is cross-origin isolated), and
// aggregates as runtime/aggregate.py. Every model constant comes from the bundle's manifest.
import * as ort from "./ort/ort.wasm.min.mjs";
import { MelFrontEnd } from "./frontend.js";
import { songWindows, samplesOf, withContext } from "./windows.js";
import { SongAggregator } from "./aggregate.js";
import { ConceptProbes, appendProbes } from "./probes.js";

const BASE = new URL(".", import.meta.url);
export class AnalysisError extends Error {}

let sitePromise = null;
const models = new Map();
const config = { threads: null };
let ortReady = false;

// threads: onnxruntime-web's WASM threads (default: up to 4 when cross-origin isolated, else 1); set before the
// first model loads
export function configure(opts = {}) {
  if (opts.threads !== undefined) config.threads = opts.threads;
}

export function isolated() { return typeof crossOriginIsolated !== "undefined" && crossOriginIsolated; }

export function threads() {
  if (!isolated()) return 1;
  const cores = (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 1;
  return Math.max(1, config.threads || Math.min(4, cores));
}

export function site() {
  if (!sitePromise) sitePromise = fetchJson(new URL("site.json", BASE));
  return sitePromise;
}

async function fetchJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new AnalysisError(`${url}: HTTP ${r.status}`);
  return r.json();
}

function initOrt() {
  ort.env.wasm.wasmPaths = new URL("ort/", BASE).href;
  ort.env.wasm.numThreads = threads();
  ort.env.wasm.proxy = false;
}

// {name, manifest, frontend, session, runtime, probes}
export async function loadModel(name) {
  const s = await site();
  name = name || s.default;
  if (!s.models.some(m => m.name === name)) {
    const why = (s.skipped || {})[name];
    throw new AnalysisError(why ? `${name}: not in this site: ${why}` : `${name}: not in this site (choose ${s.models.map(m => m.name).join(", ")})`);
  }
  if (!models.has(name)) {
    models.set(name, (async () => {
      if (!ortReady) { initOrt(); ortReady = true; }
      const dir = new URL(`models/${name}/`, BASE);
      const manifest = await fetchJson(new URL("manifest.json", dir));
      const fbResp = await fetch(new URL("melfb.f32", dir));
      if (!fbResp.ok) throw new AnalysisError(`${name}: no mel filterbank in the site`);
      const frontend = new MelFrontEnd(manifest.frontend, new Float32Array(await fbResp.arrayBuffer()));
      const hints = manifest.runtime_hints || {};
      const session = await ort.InferenceSession.create(new URL("model.body.onnx", dir).href, {
        executionProviders: ["wasm"],
        graphOptimizationLevel: hints.graph_optimization || "all",
        enableMemPattern: hints.mem_pattern !== undefined ? !!hints.mem_pattern : true,
      });
      return { name, manifest, frontend, session, runtime: s.runtime, probes: ConceptProbes.fromManifest(manifest) };
    })());
    models.get(name).catch(() => models.delete(name));
  }
  return models.get(name);
}

// -> {samples: Float32Array (mono, at sr), name}
export async function decode(src, sr) {
  let buf, name;
  if (typeof src === "string" || src instanceof URL) {
    name = decodeURIComponent(String(src).split("/").pop().split("?")[0]) || String(src);
    let r;
    try { r = await fetch(src); } catch (e) { throw new AnalysisError(`${name}: cannot fetch (${e.message})`); }
    if (!r.ok) throw new AnalysisError(`${name}: HTTP ${r.status}`);
    buf = await r.arrayBuffer();
  } else if (src instanceof Blob) {
    name = src.name || "song";
    buf = await src.arrayBuffer();
  } else if (src instanceof ArrayBuffer) {
    name = "song"; buf = src;
  } else {
    throw new AnalysisError("analyse: give a File, a Blob, an ArrayBuffer or a URL");
  }
  if (!buf.byteLength) throw new AnalysisError(`${name}: zero-length audio`);
  let audio;
  try {
    audio = await new OfflineAudioContext(1, 1, sr).decodeAudioData(buf);
  } catch (e) {
    throw new AnalysisError(`${name}: cannot decode this file as audio (${(e && e.message) || e})`);
  }
  const n = audio.length, ch = audio.numberOfChannels;
  let samples;
  if (ch === 1) samples = audio.getChannelData(0);
  else {
    samples = new Float32Array(n);
    for (let c = 0; c < ch; c++) { const d = audio.getChannelData(c); for (let i = 0; i < n; i++) samples[i] = Math.fround(samples[i] + d[i]); }
    for (let i = 0; i < n; i++) samples[i] = Math.fround(samples[i] / ch);
  }
  for (let i = 0; i < n; i += 997) if (!Number.isFinite(samples[i])) throw new AnalysisError(`${name}: audio holds NaN or infinite samples`);
  return { samples, name };
}

function rows(t) {  // (1, K, T) tensor -> K arrays of T
  const [, k, n] = t.dims, d = t.data;
  return Array.from({ length: k }, (_, i) => Array.from(d.subarray(i * n, (i + 1) * n)));
}

// one window's samples -> {logits, probabilities, concepts, concept_frames, embedding}, with its timings; a tag
// bundle's concept probes are appended to its tags (model.py's append_probes)
export async function runWindow(md, samples, timing) {
  const t0 = performance.now();
  const fe = md.frontend, frames = fe.frameCount(samples.length);
  const mel = fe.mel(samples);
  const t1 = performance.now();
  const out = await md.session.run({ [md.session.inputNames[0]]: new ort.Tensor("float32", mel, [1, fe.nMels, frames]) });
  const t2 = performance.now();
  if (timing) { timing.frontend += t1 - t0; timing.body += t2 - t1; }
  const o = {
    logits: Array.from(out.logits.data), probabilities: Array.from(out.probabilities.data),
    concepts: out.concepts ? Array.from(out.concepts.data) : null, concept_frames: out.concept_frames ? rows(out.concept_frames) : null,
    embedding: out.embedding ? Array.from(out.embedding.data) : null,
  };
  for (const v of [o.logits, o.probabilities, o.concepts || [], o.embedding || []]) {
    if (v.some(x => !Number.isFinite(x))) throw new AnalysisError(`${md.name}: the model gave non-finite outputs`);
  }
  try {
    return appendProbes(o, md.probes);
  } catch (e) {
    throw new AnalysisError(`${md.name}: ${e.message}`);
  }
}

export function resultInfo(md) {
  const m = md.manifest;
  return { model: m.name, arch: m.arch, trained_on: m.trained_on || "", backend: "onnxruntime-web", device: `wasm (${threads()} thread${threads() > 1 ? "s" : ""})` };
}

export function windowSamples(md) { return samplesOf(md.manifest.window_s, md.manifest.sample_rate); }
export function contextSamples(md) { return Number((md.manifest.frontend || {}).context_samples || 0); }
export { withContext };

// fileOrUrl -> the result JSON. opts: {model, hop_s, top_k, onWindow(row, done, total)}
export async function analyse(fileOrUrl, opts = {}) {
  const t0 = performance.now();
  const md = await loadModel(opts.model);
  const m = md.manifest, sr = m.sample_rate;
  const tLoad = performance.now();
  const { samples, name } = await decode(fileOrUrl, sr);
  const tDecode = performance.now();
  if (samples.length < md.runtime.min_seconds * sr) {
    throw new AnalysisError(`${name}: ${(samples.length / sr).toFixed(2)} s of audio; at least ${md.runtime.min_seconds} s is needed`);
  }
  const hop = opts.hop_s || m.hop_s || m.window_s, context = contextSamples(md);
  const window = windowSamples(md);
  const total = samples.length <= window ? 1 : Math.ceil((samples.length - window) / samplesOf(hop, sr)) + 1;
  const agg = new SongAggregator(m, md.runtime);
  const timing = { frontend: 0, body: 0 };
  let done = 0;
  for (const w of songWindows(samples, sr, m.window_s, hop, context)) {
    const row = agg.add(w, await runWindow(md, w.samples, timing));
    done += 1;
    if (opts.onWindow) opts.onWindow(row, done, total);
  }
  const res = agg.result(name, resultInfo(md), opts.top_k);
  const t1 = performance.now();
  const r2 = x => Math.round(x * 100) / 100;
  res.timing_ms = {
    total: r2(t1 - tLoad), load_model: r2(tLoad - t0), decode: r2(tDecode - tLoad), frontend: r2(timing.frontend),
    body: r2(timing.body), per_window: r2((timing.frontend + timing.body) / agg.windows.length), windows: agg.windows.length,
  };
  return res;
}

export { SongAggregator };

if (typeof window !== "undefined") {
  window.audioconcept = Object.assign(window.audioconcept || {}, { analyse, loadModel, configure, site, threads, isolated, decode });
}
