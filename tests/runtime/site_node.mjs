// Runs the page's pure modules (front end, windows, aggregation) under Node for tests/runtime/test_site_js.py.
// usage: node site_node.mjs JOB.json  (JOB: {op, site, ...}; writes JOB.out.json and, for arrays, JOB.out.f32)
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const mod = name => import(pathToFileURL(`${job.site}/${name}`).href);
const f32 = p => { const b = readFileSync(p); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const out = process.argv[2].replace(/\.json$/, "");

if (job.op === "mel") {
  const { MelFrontEnd } = await mod("frontend.js");
  const fe = new MelFrontEnd(job.cfg, f32(job.fb));
  const x = f32(job.samples), n = job.batch_len, rows = [];
  for (let s = 0; s < x.length; s += n) rows.push(fe.mel(x.subarray(s, s + n)));
  const all = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
  let o = 0; for (const r of rows) { all.set(r, o); o += r.length; }
  writeFileSync(`${out}.out.f32`, Buffer.from(all.buffer));
  writeFileSync(`${out}.out.json`, JSON.stringify({ frames: fe.frameCount(n) }));
} else if (job.op === "windows") {
  const { songWindows } = await mod("windows.js");
  const meta = [], parts = [];
  for (const w of songWindows(f32(job.samples), job.sr, job.window_s, job.hop_s, job.context)) {
    meta.push({ index: w.index, start: w.start, end: w.end, valid: w.valid, n: w.samples.length });
    parts.push(Float32Array.from(w.samples));
  }
  const all = new Float32Array(parts.reduce((a, r) => a + r.length, 0));
  let o = 0; for (const r of parts) { all.set(r, o); o += r.length; }
  writeFileSync(`${out}.out.f32`, Buffer.from(all.buffer));
  writeFileSync(`${out}.out.json`, JSON.stringify(meta));
} else if (job.op === "aggregate") {
  const { SongAggregator } = await mod("aggregate.js");
  const { ConceptProbes, appendProbes } = await mod("probes.js");
  const m = JSON.parse(readFileSync(job.manifest, "utf8"));
  const agg = new SongAggregator(m, job.runtime), probes = ConceptProbes.fromManifest(m);
  const present = [];  // each window's present concepts, as live mode shows them
  job.windows.forEach((w, i) => { agg.add(w, appendProbes(job.outputs[i], probes)); present.push(agg.windowPresent()); });
  writeFileSync(`${out}.out.json`, JSON.stringify({ ...agg.result(job.path, job.info, job.top_k), window_present: present }));
} else if (job.op === "borderline") {
  const { borderlineConcepts } = await mod("aggregate.js");
  const got = job.cases.map(c => borderlineConcepts(c.names, c.strengths, c.thresholds, c.validation, c.named));
  writeFileSync(`${out}.out.json`, JSON.stringify(got));
} else if (job.op === "explain") {
  const { GenreHead } = await mod("aggregate.js");
  const head = GenreHead.fromManifest(job.manifest, job.head);
  const got = job.cases.map(c => head.explainInputs(c.x, c.genre, c.top, c.present));
  writeFileSync(`${out}.out.json`, JSON.stringify(got));
}
