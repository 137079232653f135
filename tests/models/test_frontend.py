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
    floor = ref > -90
    assert np.abs(got - ref)[floor].max() < 2e-3


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
