// Live mode: the microphone (getUserMedia), resampled by an AudioContext at the model's rate, cut into the
// runtime's windows as they fill (each with its song context; the first one reflect-padded like a song's start),
// run one by one. Latency: from the arrival of a window's last sample to its row (the page adds the paint).
import { loadModel, runWindow, resultInfo, windowSamples, contextSamples, SongAggregator } from "./audioconcept.js";
import { samplesOf } from "./windows.js";

export async function listen({ model, hop_s, onRow, onError } = {}) {
  const md = await loadModel(model);
  const m = md.manifest, sr = m.sample_rate;
  const W = windowSamples(md), C = contextSamples(md), H = samplesOf(hop_s || m.hop_s || m.window_s, sr);
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const ctx = new AudioContext({ sampleRate: sr });
  const src = ctx.createMediaStreamSource(stream);
  const proc = ctx.createScriptProcessor(1024, 1, 1);
  const agg = new SongAggregator(m, md.runtime);
  let buf = new Float32Array(0), bufStart = 0, total = 0, k = 0, busy = false, stopped = false;
  const arrivals = [];  // [absolute end sample, performance.now()] per chunk
  const head = new Float32Array(C + 1);  // the first samples, for the first window's reflected context

  function sample(abs) {
    if (abs < 0) abs = -abs;  // reflect at the start of the stream
    return abs - bufStart < 0 ? head[abs] : buf[abs - bufStart];
  }

  async function pump() {
    if (busy) return;
    busy = true;
    try {
      while (!stopped && total >= k * H + W + C) {
        const start = k * H, x = new Float32Array(W + 2 * C);
        for (let i = 0; i < x.length; i++) x[i] = sample(start - C + i);
        const ready = (arrivals.find(a => a[0] >= start + W) || arrivals[arrivals.length - 1])[1];
        const out = await runWindow(md, x);
        const row = agg.add({ index: k, start: start / sr, end: (start + W) / sr, samples: x }, out);
        k += 1;
        const drop = k * H - C - bufStart;  // samples no later window needs
        if (drop > 0) { buf = buf.slice(drop); bufStart += drop; }
        while (arrivals.length > 1 && arrivals[0][0] < k * H) arrivals.shift();
        if (onRow) onRow(row, { ready, computed: performance.now(), present: agg.windowPresent() });
      }
    } catch (e) {
      if (onError) onError(e);
    } finally {
      busy = false;
    }
  }

  proc.onaudioprocess = ev => {
    if (stopped) return;
    const d = ev.inputBuffer.getChannelData(0);
    for (let i = 0; i < d.length && total + i <= C; i++) head[total + i] = d[i];
    const next = new Float32Array(buf.length + d.length);
    next.set(buf); next.set(d, buf.length);
    buf = next; total += d.length;
    arrivals.push([total - 1, performance.now()]);
    pump();
  };
  src.connect(proc);
  proc.connect(ctx.destination);  // a ScriptProcessor runs only when connected; it outputs silence
  if (ctx.state !== "running") await ctx.resume();

  return {
    model: md,
    get windows() { return agg.windows.length; },
    result() { return agg.windows.length ? agg.result("microphone", resultInfo(md)) : null; },
    async stop() {
      stopped = true;
      proc.disconnect(); src.disconnect();
      for (const t of stream.getTracks()) t.stop();
      await ctx.close();
      return this.result();
    },
  };
}
