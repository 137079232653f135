// The page for a person: pick or drop a song, or listen to the microphone; draws with view.js (renderView).
import * as ac from "./audioconcept.js";
import { listen } from "./live.js";
import { viewFromResult } from "./viewmodel.js";

const $ = id => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get("threads")) ac.configure({ threads: Number(params.get("threads")) });
let audioUrl = null, live = null, busy = false;

function status(text) { $("status").textContent = text; }
function fail(e) {
  $("error").textContent = String((e && e.message) || e).split("\n")[0];
  status("");
  document.body.dataset.state = "error";
}

async function setup() {
  const s = await ac.site();
  for (const m of s.models) $("model").append(new Option(`${m.name} (${m.arch})`, m.name, m.name === s.default, m.name === s.default));
  const want = params.get("model");
  if (want && s.models.some(m => m.name === want)) $("model").value = want;
  const skipped = Object.entries(s.skipped || {}).map(([k, v]) => `${k} is not offered: ${v}.`).join(" ");
  $("mode").textContent = (ac.isolated()
    ? `onnxruntime-web ${s.ort_version}, WASM with ${ac.threads()} threads (the page is cross-origin isolated).`
    : `onnxruntime-web ${s.ort_version}, WASM on one thread: this server sends no COOP/COEP headers, so the page cannot use threads (serve it with audioconcept web --serve).`)
    + " WebGPU is not used." + (skipped ? " " + skipped : "");
  $("mode").dataset.threads = String(ac.threads());
  describe();
  document.body.dataset.state = "idle";
}

function describe() {
  ac.site().then(s => {
    const m = s.models.find(x => x.name === $("model").value);
    $("model-info").textContent = m ? m.description : "";
  });
}

async function analyse(file) {
  if (busy) return;
  busy = true;
  $("error").textContent = "";
  document.body.dataset.state = "busy";
  const model = $("model").value;
  status(`loading ${model}…`);
  try {
    const md = await ac.loadModel(model);
    status(`analysing ${file.name || "the song"}…`);
    const res = await ac.analyse(file, {
      model, onWindow: (row, done, total) => status(`analysing ${file.name || "the song"}: window ${done} of ${total}`),
    });
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = file instanceof Blob ? URL.createObjectURL(file) : String(file);
    show(res, md.manifest, audioUrl);
    status(`${res.windows.length} window(s) in ${(res.timing_ms.total / 1000).toFixed(2)} s (${res.timing_ms.per_window.toFixed(0)} ms per window: front end and model)`);
    document.body.dataset.state = "done";
  } catch (e) {
    fail(e);
  } finally {
    busy = false;
  }
}

function show(res, manifest, audio) {
  window.audioconcept.last = res;
  renderView($("view"), viewFromResult(res, manifest, audio));
  const a = $("download");
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([JSON.stringify(res, null, 2)], { type: "application/json" }));
  a.hidden = false;
}

async function toggleListen() {
  if (live) {
    const l = live; live = null;
    $("listen").textContent = "Listen (microphone)";
    const res = await l.stop();
    status(res ? `stopped after ${res.windows.length} window(s)` : "stopped");
    return;
  }
  $("error").textContent = "";
  const model = $("model").value;
  const latencies = [];
  $("live-rows").replaceChildren();
  $("live").hidden = false;
  status("starting the microphone…");
  try {
    live = await listen({
      model,
      onError: fail,
      onRow: (row, t) => {
        const tr = document.createElement("tr");
        const l = live;
        // the concepts present in this window, by the song's rule (an opposite stronger here silences one)
        const top = [...t.present].sort((a, b) => (row.concepts[b] || 0) - (row.concepts[a] || 0)).slice(0, 4);
        const genre = row.silent ? "silence" : row.genre, p = row.silent ? "-" : row.probability.toFixed(2);
        for (const v of [`${row.start.toFixed(1)}-${row.end.toFixed(1)} s`, genre, p, top.join(", ")]) {
          const td = document.createElement("td"); td.textContent = v; tr.append(td);
        }
        const lat = document.createElement("td"); lat.className = "latency"; tr.append(lat);
        $("live-rows").prepend(tr);
        if (l) renderView($("view"), viewFromResult(l.result(), l.model.manifest, null));
        requestAnimationFrame(() => requestAnimationFrame(() => {  // after the row is painted
          const ms = performance.now() - t.ready;
          latencies.push(ms);
          lat.textContent = `${ms.toFixed(0)} ms`;
          lat.dataset.ms = ms.toFixed(1);
          const sorted = [...latencies].sort((a, b) => a - b);
          status(`listening: ${latencies.length} window(s); latency median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms (model ${(t.computed - t.ready).toFixed(0)} ms)`);
        }));
      },
    });
    $("listen").textContent = "Stop listening";
    status(`listening with ${model}: the first row comes after one window (${live.model.manifest.window_s} s)`);
  } catch (e) {
    live = null;
    fail(e);
  }
}

$("file").addEventListener("change", e => { if (e.target.files[0]) analyse(e.target.files[0]); });
$("model").addEventListener("change", describe);
$("listen").addEventListener("click", toggleListen);
const drop = $("drop");
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files[0]) analyse(e.dataTransfer.files[0]);
});
window.addEventListener("unhandledrejection", e => fail(e.reason));
window.audioconcept.page = { analyse, toggleListen };
setup().catch(fail);
