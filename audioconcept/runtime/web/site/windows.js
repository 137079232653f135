// Windows of a song exactly as audioconcept/data/audio.py cuts them (window_starts, fit_window, with_context):
// every hop, the last window aligned to the song's end; a song shorter than a window is looped to fill it;
// with a context (musicnn), each window carries that many real samples of the song on both sides, reflect
// padding only at the song's own edges.

export function windowStarts(n, window, hop) {
  if (window <= 0 || hop <= 0) throw new Error("window and hop must be positive");
  if (n <= window) return [0];
  const starts = [];
  for (let s = 0; s <= n - window; s += hop) starts.push(s);
  if (starts[starts.length - 1] + window < n) starts.push(n - window);
  return starts;
}

export function fitWindow(x, window) {
  if (x.length >= window) return x.slice(0, window);
  const out = new Float32Array(window);
  if (x.length === 0) return out;
  for (let i = 0; i < window; i++) out[i] = x[i % x.length];
  return out;
}

// x with `context` samples of padding at both ends: numpy's "reflect" (or "wrap" for a shorter x)
export function withContext(x, context) {
  if (context <= 0) return x;
  const n = x.length, out = new Float32Array(n + 2 * context);
  const reflect = n > context;
  for (let i = -context; i < n + context; i++) {
    let j = i;
    if (reflect) { if (j < 0) j = -j; else if (j >= n) j = 2 * (n - 1) - j; }
    else j = ((j % n) + n) % n;
    out[i + context] = x[j];
  }
  return out;
}

// round(seconds * sr) as Python rounds (half to even)
export function samplesOf(seconds, sr) {
  const v = seconds * sr, r = Math.round(v);
  return (Math.abs(v % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// yields {index, start, end, samples, valid}: windows_from_array's windows, one at a time
export function* songWindows(x, sr, windowS, hopS, context = 0) {
  const window = samplesOf(windowS, sr), hop = samplesOf(hopS || windowS, sr);
  const xp = context && x.length > window ? withContext(x, context) : null;
  const starts = windowStarts(x.length, window, hop);
  for (let i = 0; i < starts.length; i++) {
    const s = starts[i];
    const n = Math.min(window, x.length - s);
    let samples;
    if (!context) samples = fitWindow(x.subarray(s, s + window), window);
    else if (x.length <= window) samples = withContext(fitWindow(x, window), context);
    else samples = xp.subarray(s, s + window + 2 * context);
    yield { index: i, start: s / sr, end: (s + n) / sr, samples, valid: n };
  }
}
