// Out of distribution, as audioconcept/runtime/ood.py judges it: a song's mean window embedding, standardised with
// the training songs' mean and spread, and its rms distance to its k nearest training songs (averaged); outside when
// farther than the manifest's threshold (the largest leave-one-out distance among the training songs).

export const OTHER = "other / none of these";

const round4 = x => Math.round(x * 1e4) / 1e4;

export class DistanceToTraining {
  constructor(o) {
    this.mean = o.mean.map(Number); this.scale = o.scale.map(Number); this.train = o.train;
    this.threshold = Number(o.threshold); this.k = Number(o.k === undefined ? 3 : o.k);
    this.input = o.input || "embedding";
    if (this.scale.length !== this.mean.length || this.train.some(r => r.length !== this.mean.length))
      throw new Error(`ood: train (${this.train.length}, ${(this.train[0] || []).length}), mean ${this.mean.length}, scale ${this.scale.length}`);
  }
  static fromManifest(m) { return m.ood ? new DistanceToTraining(m.ood) : null; }

  // window embeddings (N x D) -> the distance
  distance(windows) {
    const d = this.mean.length, e = new Float64Array(d);
    for (const w of windows) for (let i = 0; i < d; i++) e[i] += w[i];
    const z = Array.from(e, (v, i) => (v / windows.length - this.mean[i]) / this.scale[i]);
    const dist = this.train.map(t => { let s = 0; for (let i = 0; i < d; i++) s += (t[i] - z[i]) ** 2; return Math.sqrt(s / d); });
    dist.sort((a, b) => a - b);
    const near = dist.slice(0, Math.min(this.k, dist.length));
    return near.reduce((a, b) => a + b, 0) / near.length;
  }

  judge(windows) {
    const dist = this.distance(windows);
    return {
      distance: round4(dist), threshold: round4(this.threshold), outside: dist > this.threshold,
      method: `distance to the ${this.k} nearest training songs (standardised embedding); the threshold is the largest leave-one-out distance among the training songs`,
    };
  }
}
