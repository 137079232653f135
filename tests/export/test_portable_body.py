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
