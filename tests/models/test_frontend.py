import librosa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audioconcept.models.frontend import MelFrontEnd
from audioconcept.models.frontend_config import MelConfig, mel_filterbank
from audioconcept.runtime.frontend import NumpyMelFrontEnd
from audioconcept.runtime.frontend import mel_filterbank as np_mel_filterbank

CFG = MelConfig()


def _signal(seconds=3.0, seed=0, amp=0.3):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 22050)) / 22050
    x = amp * rng.standard_normal(t.size) * 0.3 + amp * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)
    return x.astype(np.float32)


def test_filterbank_matches_librosa_htk():
    ref = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=128, fmin=0.0, fmax=11025.0, htk=True, norm=None).T
    np.testing.assert_allclose(mel_filterbank(CFG), ref, atol=1e-7)
    np.testing.assert_allclose(np_mel_filterbank(22050, 1024, 128, 0.0, 11025.0), ref, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_stft_conv_and_librosa_agree(seed):
    x = _signal(seed=seed)
    stft = MelFrontEnd(CFG, "stft")(torch.from_numpy(x)[None])[0].numpy()
    conv = MelFrontEnd(CFG, "conv")(torch.from_numpy(x)[None])[0].numpy()
    S = librosa.feature.melspectrogram(
        y=x.astype(np.float64),
        sr=22050,
        n_fft=1024,
        hop_length=512,
        n_mels=128,
        htk=True,
        norm=None,
        power=2.0,
        center=True,
        pad_mode="reflect",
    )
    ref = 10 * np.log10(np.maximum(S, 1e-10))
    above_floor = ref > -90
    assert stft.shape == conv.shape == ref.shape == (128, CFG.n_frames(x.size))
    assert np.abs(stft - conv)[above_floor].max() <= 1e-3
    assert np.abs(stft - ref)[above_floor].max() <= 1e-3


def test_full_scale_tone_does_not_overflow_and_silence_hits_the_floor():
    t = np.arange(22050) / 22050
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    for mode in ("stft", "conv"):
        mel = MelFrontEnd(CFG, mode)(torch.from_numpy(x)[None])
        assert torch.isfinite(mel).all() and mel.max() < 120
    silent = MelFrontEnd(CFG, "conv")(torch.zeros(1, 22050))
    assert torch.allclose(silent, torch.full_like(silent, -100.0))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1100, 30000), seed=st.integers(0, 1000))
def test_numpy_front_end_matches_torch_any_length(n, seed):
    x = (np.random.default_rng(seed).standard_normal((2, n)) * 0.2).astype(np.float32)
    ref = MelFrontEnd(CFG, "stft")(torch.from_numpy(x)).numpy()
    got = NumpyMelFrontEnd(CFG.to_dict())(x)
    assert got.shape == ref.shape == (2, 128, CFG.n_frames(n))
    # within 80 dB of the loudest bin: further down, the float32 reference STFT itself is off by more (seen:
    # 3e-3 dB at 85 dB below the peak, for n=5410, seed=0)
    audible = ref > ref.max() - 80
    assert np.abs(got - ref)[audible].max() < 2e-3


def test_front_end_has_no_weights():
    assert list(MelFrontEnd(CFG, "conv").state_dict()) == []
    assert list(MelFrontEnd(CFG, "stft").parameters()) == []


def test_ln_without_log_matches_log_over_the_db_range():
    from audioconcept.models.frontend import ln_without_log

    x = torch.logspace(-10, 9, 100_001, dtype=torch.float32)
    err = (ln_without_log(x).double() - torch.log(x.double())).abs().max().item()
    assert err < 2e-6, err  # torch.log itself is off by ~1e-6 here


def test_no_log_op_front_end_equals_native():
    wav = torch.randn(2, 22050) * 0.3
    wav[1] = torch.sin(torch.arange(22050) * 0.3)  # full-scale tone
    a = MelFrontEnd(MelConfig(), "conv")(wav)
    b = MelFrontEnd(MelConfig(), "conv", log_impl="no-log-op")(wav)
    assert (a - b).abs().max().item() < 1e-4


def test_portable_body_computes_the_same_logits():
    from audioconcept.export.portable_body import portable_body
    from audioconcept.models.vggish import VGGish, VGGishConfig

    torch.manual_seed(0)
    body = VGGish(VGGishConfig(width=0.0625, hidden=256)).eval()
    for m in body.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
    mel = torch.randn(3, 128, 171) * 10
    port = portable_body(body, 128, 171)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in port.modules())
    with torch.no_grad():
        assert (body(mel) - port(mel)).abs().max().item() < 1e-4


# ---------------------------------------------------------------- musicnn's front end (Slaney, log10(1 + C x))
def _musicnn_cfg():
    from audioconcept.models.musicnn import MUSICNN_MEL

    return MUSICNN_MEL


def _librosa_musicnn_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's preprocessing with the librosa defaults of 2019 spelled out (librosa >= 0.10 pads with zeros
    by default; 0.7, which musicnn used, reflected), in float32 instead of its float16 cast."""
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96, pad_mode="reflect")
    return np.log10(np.float32(10000) * S + np.float32(1))


def _music_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    x = 0.05 * rng.standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 110 * t) * (1 + np.sin(2 * np.pi * 2 * t))
    x += 0.2 * np.sin(2 * np.pi * 2637 * t) * (t % 0.5 < 0.1)
    return x.astype(np.float32)


def test_default_mel_config_is_unchanged():
    assert MelConfig().to_dict() == {
        "sample_rate": 22050, "n_fft": 1024, "hop_length": 512, "n_mels": 128, "f_min": 0.0, "f_max": 11025.0,
        "power": 2.0, "amin": 1e-10, "center": True, "pad_mode": "reflect", "window": "hann", "mel_scale": "htk",
        "norm": None, "db": "power_to_db(ref=1.0, top_db=None)", "compression": "db", "log_c": 10000.0,
    }  # fmt: skip


def test_numpy_front_end_reads_front_end_dicts_written_before_compression_existed():
    old = {k: v for k, v in CFG.to_dict().items() if k not in ("compression", "log_c", "mel_scale", "norm")}
    x = _signal()[None]
    np.testing.assert_array_equal(NumpyMelFrontEnd(old)(x), NumpyMelFrontEnd(CFG.to_dict())(x))


def test_mel_config_rejects_what_no_front_end_computes():
    from audioconcept.errors import AudioConceptError

    for bad in ({"compression": "ln"}, {"mel_scale": "bark"}, {"norm": "l2"}, {"pad_mode": "constant"}):
        with pytest.raises(AudioConceptError):
            MelConfig(**bad)
    assert MelConfig.from_dict({**CFG.to_dict(), "unknown": 1}) == CFG


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmin", "fmax"), [(16000, 512, 96, 0.0, 8000.0), (22050, 2048, 128, 30.0, 9000.0)]
)
def test_slaney_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax):
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T  # Slaney scale and norm
    got = np_mel_filterbank(sr, n_fft, n_mels, fmin, fmax, "slaney", "slaney")
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("seconds", "seed"), [(0.1, 0), (3.0, 1), (7.3, 2)])
def test_musicnn_front_ends_match_librosa(seconds, seed):
    y = _music_like(seconds, seed)
    ref = _librosa_musicnn_mel(y)
    cfg = _musicnn_cfg()
    got = NumpyMelFrontEnd(cfg.to_dict())(y[None])[0]
    assert got.shape == ref.shape == (96, cfg.n_frames(y.size))
    assert np.abs(got - ref).max() <= 5e-6  # values 0..6: float32 rounding
    wav = torch.from_numpy(y)[None]
    for mode in ("stft", "conv"):
        for log_impl in ("native", "no-log-op"):
            t = MelFrontEnd(cfg, mode, log_impl)(wav)[0].numpy()
            assert np.abs(t - ref).max() <= 5e-5, (mode, log_impl)  # the STFT as a float32 conv adds ~1e-5


def test_musicnn_front_end_of_silence_and_full_scale():
    cfg = _musicnn_cfg()
    silent = NumpyMelFrontEnd(cfg.to_dict())(np.zeros((1, 16000), np.float32))
    assert np.all(silent == 0.0)
    loud = np.sign(np.sin(2 * np.pi * 100 * np.arange(16000) / 16000)).astype(np.float32)[None]  # full-scale square
    a = NumpyMelFrontEnd(cfg.to_dict())(loud)
    b = MelFrontEnd(cfg, "conv", "no-log-op")(torch.from_numpy(loud)).numpy()
    assert np.isfinite(a).all() and a.max() < 9  # musicnn's float16 cast overflows to inf here under NumPy 2
    assert np.abs(a - b).max() < 1e-4


def test_musicnn_front_end_on_real_clips_matches_librosa_and_the_fixture(shared_clips_dir, musicnn_reference):
    from audioconcept.data.audio import load_audio

    cfg = _musicnn_cfg()
    d = musicnn_reference
    for clip in sorted(set(d["clip"].tolist())):
        y = load_audio(shared_clips_dir / clip, sr=16000)
        ours = NumpyMelFrontEnd(cfg.to_dict())(y[None])[0]
        assert np.abs(ours - _librosa_musicnn_mel(y)).max() <= 5e-6
        for i in np.flatnonzero(d["clip"] == clip):
            s = int(d["start_frame"][i])
            assert np.abs(ours[:, s : s + 187] - d["mel"][i]).max() <= 1e-4, clip
