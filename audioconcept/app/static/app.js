// AudioConcept app: drop, upload, pick or try an example song, start a job, poll it, render the view.
"use strict";

const $ = id => document.getElementById(id);
let OPTIONS = null;

function fillBackends() {
  const m = OPTIONS.models.find(x => x.name === $("model").value);
  $("backend").replaceChildren(...(m ? m.backends : ["onnx"]).map(b => new Option(b, b)));
}

// The folder's songs, grouped by their first folder ("jazz/jazz.00005.flac" under "jazz").
function fillPicks(files) {
  const groups = new Map();
  for (const f of files) {
    const cut = f.indexOf("/");
    const g = cut > 0 ? f.slice(0, cut) : "";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(f);
  }
  for (const [g, fs] of groups) {
    const parent = g ? document.createElement("optgroup") : $("pick");
    if (g) parent.label = g;
    for (const f of fs) parent.append(new Option(g ? f.slice(g.length + 1) : f, f));
    if (g) $("pick").append(parent);
  }
  // one click away: the first song of each group (a genre's folder), or the first songs of a flat folder
  const quick = groups.size > 1 ? [...groups.values()].map(fs => fs[0]) : files;
  for (const f of quick.slice(0, 10)) $("quick").append(exampleButton(f.split("/").pop().replace(/\.[^.]+$/, ""), f));
  $("quick").hidden = false;
}

function exampleButton(title, pick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "example";
  b.textContent = title;
  b.title = pick;
  b.dataset.pick = pick;
  b.addEventListener("click", () => start({ pick, name: title }));
  return b;
}

async function loadOptions() {
  OPTIONS = await (await fetch("/api/options")).json();
  $("model").replaceChildren(...OPTIONS.models.map(m => new Option(`${m.name} (${m.arch}${m.concepts ? ", concepts" : ""})`, m.name)));
  fillBackends();
  $("max-seconds").textContent = String(Math.round(OPTIONS.max_seconds));
  for (const ex of OPTIONS.examples || []) $("examples").append(exampleButton(ex.title, ex.pick));
  $("examples").hidden = !(OPTIONS.examples || []).length;
  if (OPTIONS.files.length) {
    $("pick-box").hidden = false;
    fillPicks(OPTIONS.files);
  }
}

function showError(msg) {
  $("error").textContent = msg;
  $("progress").hidden = true;
  $("status").textContent = "";
  $("analyze").disabled = false;
}

async function poll(id) {
  for (;;) {
    const r = await fetch(`/api/jobs/${id}`);
    const job = await r.json();
    if (!r.ok) return showError(job.error || `HTTP ${r.status}`);
    $("progress").value = job.progress;
    $("status").textContent = `${job.stage}… ${(100 * job.progress).toFixed(0)}%`;
    if (job.state === "done") {
      $("progress").hidden = true;
      $("status").textContent = "done";
      $("analyze").disabled = false;
      renderView($("view"), job.view);
      $("view").scrollIntoView({ behavior: "smooth" });
      return;
    }
    if (job.state === "error") return showError(job.message);
    await new Promise(res => setTimeout(res, 300));
  }
}

// Start a job on a file (upload) or a pick (an example or a song in the folder).
async function start(src) {
  $("error").textContent = "";
  $("view").replaceChildren();
  delete $("view").dataset.ready;
  const fd = new FormData();
  if (src.file) fd.append("file", src.file);
  else fd.append("pick", src.pick);
  fd.append("model", $("model").value);
  fd.append("backend", $("backend").value);
  $("analyze").disabled = true;
  $("progress").hidden = false;
  $("progress").value = 0;
  $("status").textContent = src.file ? "uploading…" : `starting ${src.name || src.pick}…`;
  let r;
  try {
    // the per-server token from /api/options: only this page can read it, so only this page can post
    r = await fetch("/api/jobs", { method: "POST", body: fd, headers: { "X-AudioConcept-Token": OPTIONS.token } });
  } catch (e) {
    return showError(`upload failed: ${e}`);
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) return showError(body.error || `HTTP ${r.status}`);
  poll(body.id);
}

function submit(ev) {
  ev.preventDefault();
  const f = $("file").files[0];
  if (f) return start({ file: f });
  if ($("pick").value) return start({ pick: $("pick").value });
  showError("Drop or choose a song, try an example, or pick one from the folder.");
}

function chosen(f) {
  $("chosen").textContent = f ? f.name : "";
  if (f) { $("preview").src = URL.createObjectURL(f); $("preview").hidden = false; }
}

$("file").addEventListener("change", () => { chosen($("file").files[0]); if ($("file").files[0]) $("pick").value = ""; });
$("pick").addEventListener("change", () => {  // a song picked from the folder starts at once
  if (!$("pick").value) return;
  $("file").value = "";
  chosen(null);
  $("preview").hidden = true;
  start({ pick: $("pick").value });
});
const drop = $("drop");
for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, e => { e.preventDefault(); drop.classList.add("over"); });
for (const t of ["dragleave", "drop"]) drop.addEventListener(t, () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault();
  const f = e.dataTransfer && e.dataTransfer.files[0];
  if (!f) return;
  try { $("file").files = e.dataTransfer.files; } catch (_) { /* older browsers: the file still goes up */ }
  chosen(f);
  start({ file: f });  // a dropped song starts at once
});
$("model").addEventListener("change", fillBackends);
$("analyze-form").addEventListener("submit", submit);
loadOptions().catch(e => showError(`cannot reach the server: ${e}`));
