import pytest
import torch

from audioconcept import SAMPLE_RATE
from audioconcept.errors import AudioConceptError
from audioconcept.models.classifier import AudioClassifier
from audioconcept.models.registry import MODELS, build_body, get_spec


def _n(window_s):
    return int(round(window_s * SAMPLE_RATE))


def test_cnn_shapes_and_layers():
    m = AudioClassifier(build_body("cnn", 10)).eval()
    x = torch.randn(3, _n(MODELS["cnn"].window_s)) * 0.1
    logits, acts = m.forward_layers(x)
    assert logits.shape == (3, 10)
    assert acts["layer1"].shape == (3, 16, 64, 418)
    assert acts["layer5"].shape == (3, 64, 1, 1)
    assert acts["dense1"].shape == (3, 64)
    assert set(acts) == set(m.body.layer_names)


def test_cnn_matches_original_structure():
    body = build_body("cnn", 10)
    pools = [blk[3].kernel_size for blk in (body.layer1, body.layer2, body.layer3, body.layer4, body.layer5)]
    assert pools == [(2, 3), (3, 4), (2, 5), (3, 3), (3, 4)]
    chans = [blk[0].out_channels for blk in (body.layer1, body.layer2, body.layer3, body.layer4, body.layer5)]
    assert chans == [16, 16, 32, 32, 64]
    assert [blk[4].p for blk in (body.layer1, body.layer5)] == [0.1, 0.1]
    assert body.dense1.in_features == 64 and body.dense2.out_features == 10 and body.dropout.p == 0.5


def test_vggish_full_size_is_faithful():
    with torch.device("meta"):
        body = build_body("vggish", 10)
    n = sum(p.numel() for p in body.parameters())
    assert 133e6 < n < 136e6
    assert body.fc1.in_features == 25088 and body.fc1.out_features == 4096


@pytest.mark.parametrize("width", [0.125, 0.25])
def test_slim_vggish_shapes(width):
    m = AudioClassifier(build_body("vggish", 10, width=width)).eval()
    x = torch.randn(2, _n(MODELS["vggish"].window_s)) * 0.1
    logits, acts = m.forward_layers(x)
    assert logits.shape == (2, 10)
    assert acts["block5"].shape[-2:] == (7, 7)
    assert acts["fc2"].shape == (2, max(16, round(4096 * width)))


def test_registry():
    assert get_spec("cnn").window_s == 29.1 and get_spec("vggish").window_s == 3.96
    with pytest.raises(AudioConceptError):
        get_spec("resnet")


def test_cnn_ignores_the_end_of_its_window_and_export_hops_accordingly():
    """Floor-dividing max pools drop trailing frames: the CNN's logits depend on frames 0..975 of
    1251 (22.6 s of 29.1 s). VGGish resizes the whole mel, so it uses every frame."""
    from audioconcept.models.cnn import CNN
    from audioconcept.models.receptive_field import influential_frames
    from audioconcept.models.vggish import VGGish, VGGishConfig

    assert influential_frames(CNN(), 128, 1251) == 976
    assert influential_frames(VGGish(VGGishConfig(width=0.0625, hidden=64)), 128, 171) == 171
