"""Reference outputs of musicnn's own TensorFlow code, for tests/fixtures/musicnn_reference.npz.

Three stages (make_fixture.sh runs them):
  mel   (project .venv):  real shared clips -> our loader at 16 kHz -> librosa's mel (center=True,
                          pad_mode="reflect", as librosa 0.7 did when musicnn was trained) ->
                          log10(1 + 10000 x) in float32 -> 187-frame patches
  tf    (throwaway TF venv): musicnn's models.py from the wheel builds each of the four graphs,
                          restores the wheel's checkpoint, and runs the patches
  pack  (project .venv):  one compressed .npz with the patches, the tags, the embeddings and the versions
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

CLIPS = ("metal/metal.00005.flac", "classical/classical.00005.flac", "pop/pop.00005.flac")
PATCHES_PER_CLIP = 3
N_FRAMES = 187
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


def stage_mel(clips_root: Path, out: Path) -> None:
    import librosa
    import soundfile
    import soxr

    from audioconcept.data.audio import load_audio

    mels, names, starts, meta_clips = [], [], [], {}
    for rel in CLIPS:
        path = clips_root / rel
        y = load_audio(path, sr=16000)
        S = librosa.feature.melspectrogram(
            y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96, center=True, pad_mode="reflect"
        )
        logmel = np.log10(np.float32(10000) * S.astype(np.float32) + np.float32(1)).astype(np.float32)
        for k in range(PATCHES_PER_CLIP):
            s = k * N_FRAMES
            mels.append(logmel[:, s : s + N_FRAMES])
            names.append(rel)
            starts.append(s)
        meta_clips[rel] = {
            "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "samples_16k": int(y.size),
            "waveform_16k_sha256": hashlib.sha256(y.astype("<f4").tobytes()).hexdigest(),
        }
    meta = {
        "clips": meta_clips,
        "loader": "audioconcept.data.audio.load_audio(sr=16000): soundfile decode, channel mean, soxr HQ",
        "mel": "librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96, center=True, "
        "pad_mode='reflect') [Slaney scale and norm], then log10(10000*x + 1) in float32",
        "librosa": librosa.__version__,
        "numpy_mel": np.__version__,
        "soxr": soxr.__version__,
        "soundfile": soundfile.__version__,
    }
    np.savez(out, mel=np.stack(mels), clip=np.array(names), start_frame=np.array(starts), meta=json.dumps(meta))
    print(f"mel stage: {len(mels)} patches -> {out}")


def stage_tf(wheel_dir: Path, inputs: Path, out: Path) -> None:
    import tensorflow as tf

    sys.path.insert(0, str(wheel_dir))
    from musicnn import configuration, models  # musicnn's own graph code, from the wheel

    tf.compat.v1.disable_eager_execution()
    d = np.load(inputs)
    x_np = np.ascontiguousarray(d["mel"].transpose(0, 2, 1))  # musicnn feeds (batch, time, freq)
    res: dict[str, np.ndarray] = {}
    for name in MODELS:
        labels = configuration.MTT_LABELS if name.startswith("MTT") else configuration.MSD_LABELS
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, configuration.N_MELS])
            is_training = tf.compat.v1.placeholder(tf.bool)
            outs = models.define_model(x, is_training, name, len(labels))
            probs = tf.nn.sigmoid(outs[0])
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().restore(sess, str(wheel_dir / "musicnn" / name) + "/")
            emb = outs[-1] if "musicnn" in name else outs[5]  # penultimate | pool5 (NHWC)
            logits, p, e = sess.run([outs[0], probs, emb], feed_dict={x: x_np, is_training: False})
        res[f"{name}/logits"] = logits.astype(np.float32)
        res[f"{name}/probs"] = p.astype(np.float32)
        res[f"{name}/{'penultimate' if 'musicnn' in name else 'pool5_nhwc'}"] = e.astype(np.float32)
        res[f"{name}/labels"] = np.array(labels)
        print(f"tf stage: {name} top tags of patch 0: {[labels[i] for i in np.argsort(-p[0])[:5]]}")
    meta = {"tensorflow": tf.__version__, "numpy_tf": np.__version__, "python_tf": sys.version.split()[0]}
    np.savez(out, meta=json.dumps(meta), **res)


def stage_pack(inputs: Path, tf_out: Path, wheel_sha256: str, out: Path) -> None:
    a, b = np.load(inputs), np.load(tf_out)
    meta = json.loads(str(a["meta"])) | json.loads(str(b["meta"]))
    meta["wheel"] = "musicnn-0.1.0-py3-none-any.whl"
    meta["wheel_sha256"] = wheel_sha256
    meta["models"] = "musicnn's models.define_model (from the wheel) under tf.compat.v1, is_training=False"
    meta["made_by"] = "tools/musicnn_reference/make_fixture.sh"
    arrays = {k: b[k] for k in b.files if k != "meta"}
    out.parent.mkdir(parents=True, exist_ok=True)
    inputs = {k: a[k] for k in ("mel", "clip", "start_frame")}
    np.savez_compressed(out, meta=json.dumps(meta), **inputs, **arrays)
    print(f"pack: {out} ({out.stat().st_size / 1e3:.0f} kB)\n{json.dumps(meta, indent=1)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="stage", required=True)
    m = sub.add_parser("mel")
    m.add_argument("--clips", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("tf")
    t.add_argument("--wheel-dir", type=Path, required=True)
    t.add_argument("--inputs", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("pack")
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--tf", type=Path, required=True)
    p.add_argument("--wheel-sha256", required=True)
    p.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.stage == "mel":
        stage_mel(args.clips, args.out)
    elif args.stage == "tf":
        stage_tf(args.wheel_dir, args.inputs, args.out)
    else:
        stage_pack(args.inputs, args.tf, args.wheel_sha256, args.out)


if __name__ == "__main__":
    main()
