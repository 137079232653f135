// AudioConcept app: upload or pick a song, start a job, poll it, render the view.
"use strict";

const $ = id => document.getElementById(id);
let OPTIONS = null;

function fillBackends() {
  const m = OPTIONS.models.find(x => x.name === $("model").value);
  $("backend").replaceChildren(...(m ? m.backends : ["onnx"]).map(b => new Option(b, b)));
}

async function loadOptions() {
  OPTIONS = await (await fetch("/api/options")).json();
  $("model").replaceChildren(...OPTIONS.models.map(m => new Option(`${m.name} (${m.arch}${m.concepts ? ", concepts" : ""})`, m.name)));
  fillBackends();
  if (OPTIONS.files.length) {
    $("pick-box").hidden = false;
    for (const f of OPTIONS.files) $("pick").append(new Option(f, f));
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
      return;
    }
    if (job.state === "error") return showError(job.message);
    await new Promise(res => setTimeout(res, 300));
  }
}

async function submit(ev) {
  ev.preventDefault();
  $("error").textContent = "";
  $("view").replaceChildren();
  delete $("view").dataset.ready;
  const fd = new FormData();
  const f = $("file").files[0];
  if (f) fd.append("file", f);
  else if ($("pick").value) fd.append("pick", $("pick").value);
  else return showError("Choose a file to upload or one from the folder.");
  fd.append("model", $("model").value);
  fd.append("backend", $("backend").value);
  $("analyze").disabled = true;
  $("progress").hidden = false;
  $("progress").value = 0;
  $("status").textContent = "uploading…";
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

$("file").addEventListener("change", () => {
  const f = $("file").files[0];
  if (f) { $("preview").src = URL.createObjectURL(f); $("preview").hidden = false; }
});
$("model").addEventListener("change", fillBackends);
$("analyze-form").addEventListener("submit", submit);
loadOptions().catch(e => showError(`cannot reach the server: ${e}`));
