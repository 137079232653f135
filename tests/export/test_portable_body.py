"""Graph rewrites that keep exported bodies portable and small, without changing what they compute."""

import numpy as np
import pytest
import torch

from audioconcept.export.portable_body import AffineFrequencyMax, ChannelAffine, portable_body
from audioconcept.models.musicnn import PATCH_FRAMES, FrequencyMaxBlock, Musicnn
from tests.models.test_musicnn import _randomise_bn


def test_musicnn_takes_the_frequency_max_before_the_affine():
    """Negative BatchNorm scales included (the max of a decreasing map is the map of the min)."""
    torch.manual_seed(0)
    body = _randomise_bn(Musicnn(), 5)
    scales = [m.bn.weight for m in body.modules() if isinstance(m, FrequencyMaxBlock)]
    assert any((s < 0).any() for s in scales) and any((s > 0).any() for s in scales)
    port = portable_body(body, 96, PATCH_FRAMES)
    assert isinstance(port.timbral_38, AffineFrequencyMax) and isinstance(port.input_bn, ChannelAffine)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in port.modules())
    mel = torch.randn(3, 96, 250) * 2
    with torch.no_grad():
        a, acts_a = body.forward_layers(mel)
        b, acts_b = port.forward_layers(mel)
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=2e-5)
    for layer in ("timbral", "temporal"):  # the blocks' own outputs, channel order included
        np.testing.assert_allclose(acts_b[layer].numpy(), acts_a[layer].numpy(), atol=2e-5)
    assert isinstance(body.timbral_38, FrequencyMaxBlock)  # the original is left untouched


@pytest.mark.slow
def test_the_rewritten_graph_has_no_op_the_coreml_provider_lacks(tmp_path):
    from audioconcept.export.coreml_ep import coreml_ep_partitions

    port = portable_body(_randomise_bn(Musicnn(), 6), 96, PATCH_FRAMES)
    prog = torch.onnx.export(port, (torch.randn(1, 96, PATCH_FRAMES),), dynamo=True, input_names=["mel"])
    prog.save(str(tmp_path / "m.onnx"))
    ops = {n.op_type for n in prog.model_proto.graph.node}
    assert not ops & {"ReduceMin", "Neg", "BatchNormalization", "Log"}, ops
    assert coreml_ep_partitions(tmp_path / "m.onnx")["one_piece"]


def _kill_filters(body: Musicnn, n: int, seed: int = 0) -> Musicnn:
    """Make the first `n` filters of every timbral block dead the way trained musicnn filters are: weights
    decayed to ~1e-30 or all non-positive, and a negative bias."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in (body.timbral_38, body.timbral_67):
            w = block.conv.weight
            w[: n // 2] = torch.rand(w[: n // 2].shape, generator=g) * 1e-30
            w[n // 2 : n] = -torch.rand(w[n // 2 : n].shape, generator=g)
            block.conv.bias[:n] = -0.5 - torch.rand(n, generator=g)
    return body


def test_dead_filters_are_skipped_and_the_outputs_stay_the_same():
    """Provably dead filters leave the graph; every output, layer activations included, is unchanged for
    any mel the front end can produce: silence, real levels, and the largest finite value (MEL_MAX)."""
    from audioconcept.export.portable_body import dead_filter_report, lean_body
    from audioconcept.models.musicnn import MEL_MAX

    torch.manual_seed(0)
    body = _kill_filters(_randomise_bn(Musicnn(), 3), 40)
    with torch.no_grad():  # input_bn maps mel >= 0 to [0.1, ...]: a positive scale and shift
        bn = body.input_bn
        bn.weight.abs_()
        bn.bias.copy_(bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps) + 0.1)
    lean = lean_body(body)
    report = dead_filter_report(lean)
    assert report["timbral_38"] == {"filters": 204, "dead": 40} and report["timbral_67"]["dead"] == 40
    g = torch.Generator().manual_seed(1)
    mels = [
        torch.zeros(1, 96, PATCH_FRAMES),
        torch.rand(2, 96, PATCH_FRAMES, generator=g) * 6,
        torch.full((1, 96, PATCH_FRAMES), float(MEL_MAX)),
    ]
    for mel in mels:
        with torch.no_grad():
            a, acts_a = body.forward_layers(mel)
            b, acts_b = lean.forward_layers(mel)
        scale = 1.0 + float(a.abs().max())
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=2e-5 * scale)
        for layer in ("timbral", "temporal"):
            np.testing.assert_allclose(acts_b[layer].numpy(), acts_a[layer].numpy(), rtol=1e-5, atol=2e-5)
    assert sum(p.numel() for p in lean.parameters()) < sum(p.numel() for p in body.parameters())


def test_never_positive_is_a_bound_not_a_guess():
    """Filters it calls dead are <= 0 at every position for inputs at the ends of the range (where a bound
    is tight); a filter with one positive tap is never dead when the input is unbounded above."""
    from audioconcept.export.portable_body import never_positive

    g = torch.Generator().manual_seed(2)
    conv = torch.nn.Conv2d(1, 64, (5, 3), padding=(0, 1))
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) - 1.5)  # mostly negative taps
        conv.bias.copy_(torch.randn(64, generator=g))
    lo, hi = -0.05, 4.0
    dead = never_positive(conv, lo, hi)
    assert 0 < int(dead.sum()) < 64
    x = torch.where(torch.rand(500, 1, 12, 9, generator=g) < 0.5, torch.tensor(lo), torch.tensor(hi))
    with torch.no_grad():
        y = conv(torch.cat([x, torch.rand(100, 1, 12, 9, generator=g) * (hi - lo) + lo]))
    assert (y[:, dead] <= 0).all()
    assert not never_positive(conv, lo, float("inf"))[(conv.weight.flatten(1) > 0).any(1)].any()
