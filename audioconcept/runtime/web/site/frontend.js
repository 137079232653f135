// The numpy mel front end (audioconcept/runtime/frontend.py) in JavaScript: periodic Hann window, real FFT in
// float64, power cast to float32, the bundle's mel filterbank (written by `audioconcept web` from the same
// Python function), then dB or log10(1 + C x) in float32. Every setting comes from the manifest's "frontend".

const f32 = Math.fround;

// radix-2 complex FFT tables for size n
function fftTables(n) {
  if (n & (n - 1)) throw new Error(`n_fft ${n} is not a power of two`);
  const bits = Math.log2(n);
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const cos = new Float64Array(n / 2), sin = new Float64Array(n / 2);
  for (let k = 0; k < n / 2; k++) { cos[k] = Math.cos(2 * Math.PI * k / n); sin[k] = -Math.sin(2 * Math.PI * k / n); }
  return { n, rev, cos, sin };
}

// in-place FFT of (re, im), both Float64Array(n)
function fft(t, re, im) {
  const n = t.n;
  for (let i = 0; i < n; i++) {
    const j = t.rev[i];
    if (j > i) { let a = re[i]; re[i] = re[j]; re[j] = a; a = im[i]; im[i] = im[j]; im[j] = a; }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1, step = n / size;
    for (let s = 0; s < n; s += size) {
      for (let k = 0, w = 0; k < half; k++, w += step) {
        const a = s + k, b = a + half;
        const c = t.cos[w], d = t.sin[w];
        const xr = re[b] * c - im[b] * d, xi = re[b] * d + im[b] * c;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
}

export class MelFrontEnd {
  // cfg: the manifest's "frontend"; fb: Float32Array (n_mels * n_freqs), row-major (n_mels, n_freqs)
  constructor(cfg, fb) {
    this.nFft = cfg.n_fft;
    this.hop = cfg.hop_length;
    this.nMels = cfg.n_mels;
    this.nFreqs = this.nFft / 2 + 1;
    this.center = cfg.center !== undefined ? !!cfg.center : true;
    this.compression = cfg.compression || "db";
    this.logC = f32(cfg.log_c !== undefined ? cfg.log_c : 10000);
    this.amin = f32(cfg.amin !== undefined ? cfg.amin : 1e-10);
    if (!["db", "log10(1+C*x)"].includes(this.compression)) throw new Error(`unknown mel compression ${this.compression}`);
    if (fb.length !== this.nMels * this.nFreqs) throw new Error(`mel filterbank: ${fb.length} values, expected ${this.nMels}x${this.nFreqs}`);
    this.fb = fb;
    // the non-zero span of every filter row (a triangle): the projection skips the zeros
    this.lo = new Int32Array(this.nMels); this.hi = new Int32Array(this.nMels);
    for (let m = 0; m < this.nMels; m++) {
      let lo = this.nFreqs, hi = 0;
      for (let k = 0; k < this.nFreqs; k++) if (fb[m * this.nFreqs + k] !== 0) { lo = Math.min(lo, k); hi = k + 1; }
      this.lo[m] = lo; this.hi[m] = Math.max(lo, hi);
    }
    this.window = new Float64Array(this.nFft);  // periodic Hann in float32, as numpy's
    for (let i = 0; i < this.nFft; i++) this.window[i] = f32(0.5 - 0.5 * Math.cos(2 * Math.PI * i / this.nFft));
    this.tables = fftTables(this.nFft);
  }

  frameCount(nSamples) {
    const n = this.center ? nSamples + 2 * (this.nFft >> 1) : nSamples;
    return n < this.nFft ? 0 : 1 + Math.floor((n - this.nFft) / this.hop);
  }

  // Float32Array of samples -> Float32Array (n_mels * frames), row-major (n_mels, frames)
  mel(x) {
    const p = this.nFft >> 1, n = x.length;
    const at = this.center
      ? i => { let j = i - p; if (j < 0) j = -j; else if (j >= n) j = 2 * (n - 1) - j; return x[j]; }  // reflect
      : i => x[i];
    const frames = this.frameCount(n);
    const out = new Float32Array(this.nMels * frames);
    const re = new Float64Array(this.nFft), im = new Float64Array(this.nFft), power = new Float64Array(this.nFreqs);
    const fb = this.fb, nf = this.nFreqs, logC = this.logC, amin = this.amin;
    const edge = this.center ? p : 0;
    for (let t = 0; t < frames; t++) {
      const s = t * this.hop;
      if (!this.center || (s >= edge && s + this.nFft - edge <= n)) {
        const o = s - edge;
        for (let i = 0; i < this.nFft; i++) { re[i] = x[o + i] * this.window[i]; im[i] = 0; }
      } else {
        for (let i = 0; i < this.nFft; i++) { re[i] = at(s + i) * this.window[i]; im[i] = 0; }
      }
      fft(this.tables, re, im);
      for (let k = 0; k < nf; k++) power[k] = f32(re[k] * re[k] + im[k] * im[k]);
      for (let m = 0; m < this.nMels; m++) {
        let acc = 0;
        const row = m * nf;
        for (let k = this.lo[m]; k < this.hi[m]; k++) acc += fb[row + k] * power[k];
        let v = f32(acc);
        if (this.compression === "log10(1+C*x)") v = f32(Math.log10(f32(f32(v * logC) + 1)));
        else v = f32(10 * f32(Math.log10(Math.max(v, amin))));
        out[m * frames + t] = v;
      }
    }
    return out;
  }
}
