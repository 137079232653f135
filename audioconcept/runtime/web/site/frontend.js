// The numpy mel front end (audioconcept/runtime/frontend.py) in JavaScript: periodic Hann window, real FFT in
// float64, power cast to float32, the bundle's mel filterbank (written by `audioconcept web` from the same
// Python function), then dB or log10(1 + C x) in float32. Every setting comes from the manifest's "frontend".

const f32 = Math.fround;

// A real FFT of size n through one complex FFT of size n/2 (even samples as the real part, odd as the
// imaginary), in float64. Tables are built once per size.
function fftTables(n) {
  if (n & (n - 1) || n < 4) throw new Error(`n_fft ${n} is not a power of two`);
  const h = n >> 1, bits = Math.log2(h);
  const rev = new Uint32Array(h);
  for (let i = 0; i < h; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const cos = new Float64Array(h / 2), sin = new Float64Array(h / 2);  // twiddles of the half-size FFT
  for (let k = 0; k < h / 2; k++) { cos[k] = Math.cos(2 * Math.PI * k / h); sin[k] = -Math.sin(2 * Math.PI * k / h); }
  const wr = new Float64Array(h + 1), wi = new Float64Array(h + 1);  // e^{-2 pi i k / n}, to split the halves
  for (let k = 0; k <= h; k++) { wr[k] = Math.cos(2 * Math.PI * k / n); wi[k] = -Math.sin(2 * Math.PI * k / n); }
  return { n, h, rev, cos, sin, wr, wi, re: new Float64Array(h), im: new Float64Array(h) };
}

// frame (Float64Array(n), windowed) -> power (Float64Array(n/2 + 1)): |rfft|^2, each cast to float32
function powerSpectrum(t, frame, power) {
  const h = t.h, re = t.re, im = t.im, rev = t.rev, cos = t.cos, sin = t.sin;
  for (let i = 0; i < h; i++) { const j = rev[i]; re[j] = frame[2 * i]; im[j] = frame[2 * i + 1]; }
  for (let size = 2; size <= h; size <<= 1) {
    const half = size >> 1, step = h / size;
    for (let s = 0; s < h; s += size) {
      for (let k = 0, w = 0; k < half; k++, w += step) {
        const a = s + k, b = a + half, c = cos[w], d = sin[w];
        const xr = re[b] * c - im[b] * d, xi = re[b] * d + im[b] * c;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
  const wr = t.wr, wi = t.wi;
  for (let k = 0; k <= h; k++) {
    const k1 = k % h, k2 = (h - k) % h;
    const ar = re[k1], ai = im[k1], br = re[k2], bi = -im[k2];  // Z[k], conj(Z[h - k])
    const er = (ar + br) / 2, ei = (ai + bi) / 2;  // the even samples' spectrum
    const or = (ai - bi) / 2, oi = -(ar - br) / 2;  // the odd samples' spectrum: (Z[k] - conj(Z[h-k])) / 2i
    const xr = er + wr[k] * or - wi[k] * oi, xi = ei + wr[k] * oi + wi[k] * or;
    power[k] = f32(xr * xr + xi * xi);
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
    const frame = new Float64Array(this.nFft), power = new Float64Array(this.nFreqs), win = this.window, nFft = this.nFft;
    const fb = this.fb, nf = this.nFreqs, logC = this.logC, amin = this.amin;
    const edge = this.center ? p : 0;
    for (let t = 0; t < frames; t++) {
      const s = t * this.hop;
      if (!this.center || (s >= edge && s + nFft - edge <= n)) {
        const o = s - edge;
        for (let i = 0; i < nFft; i++) frame[i] = x[o + i] * win[i];
      } else {
        for (let i = 0; i < nFft; i++) frame[i] = at(s + i) * win[i];
      }
      powerSpectrum(this.tables, frame, power);
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
