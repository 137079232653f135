import numpy as np
import pytest
import torch
from torch import nn

from audioconcept.models.musicnn import (
    MUSICNN_MEL,
    PATCH_FRAMES,
    WINDOW_S,
    FrequencyMaxBlock,
    Musicnn,
    MusicnnVGG,
    TagEnsemble,
    count_parameters,
)
from audioconcept.models.registry import MODELS, build_body


def _randomise_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g))  # negative gammas too
    return module.eval()


def test_layers_shapes_and_parameter_counts():
    torch.manual_seed(0)
    body = Musicnn().eval()
    logits, acts = body.forward_layers(torch.randn(2, 96, PATCH_FRAMES))
    assert logits.shape == (2, 50)
    assert tuple(acts) == body.layer_names
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "timbral": (2, 408, 1, 187),
        "temporal": (2, 153, 1, 187),
        "midend1": (2, 64, 1, 187),
        "midend2": (2, 64, 1, 187),
        "midend3": (2, 64, 1, 187),
        "pooled": (2, 1506),
        "penultimate": (2, 200),
    }
    assert count_parameters(body) == 787_159  # "about 790 k" (BatchNorm statistics not counted)
    vgg = MusicnnVGG().eval()
    logits, acts = vgg.forward_layers(torch.randn(2, 96, PATCH_FRAMES))
    assert logits.shape == (2, 50) and tuple(acts) == vgg.layer_names
    assert acts["pool5"].shape == (2, 128, 1, 2)
    assert count_parameters(vgg) == 605_748


def test_batch_norm_uses_tensorflow_epsilon():
    eps = {m.eps for m in Musicnn().modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)}
    assert eps == {1e-3}


def test_tensorflow_same_padding_of_even_kernels_puts_the_extra_frame_after():
    """TF pads (k-1)//2 frames before and the rest after; the block spells that as symmetric padding + crop."""
    torch.manual_seed(0)
    block = _randomise_bn(FrequencyMaxBlock(3, (1, 128), (63, 64)))
    x = torch.randn(2, 1, 5, 200)
    ref = nn.functional.conv2d(nn.functional.pad(x, (63, 64)), block.conv.weight, block.conv.bias)
    ref = block.bn(torch.relu(ref)).amax(dim=2, keepdim=True)
    assert torch.allclose(block(x), ref, atol=1e-5)
    # an impulse at frame t reaches output frames t-64 .. t+63 (a TF "same" conv of 128 taps)
    imp = torch.zeros(1, 1, 1, 400)
    imp[..., 200] = 1.0
    conv = nn.Conv2d(1, 1, (1, 128), padding=(0, 64), bias=False)
    nn.init.constant_(conv.weight, 1.0)
    block.conv, block.bn = conv, nn.Identity()
    hit = torch.nonzero(block(imp)[0, 0, 0]).flatten()
    assert (hit.min().item(), hit.max().item()) == (200 - 64, 200 + 63)


def test_musicnn_takes_any_length_and_pools_over_time():
    body = _randomise_bn(Musicnn())
    with torch.no_grad():
        a = body(torch.randn(1, 96, 20))
        b = body(torch.randn(1, 96, 400))
    assert a.shape == b.shape == (1, 50)


def test_dropout_is_inactive_in_eval_mode():
    body = _randomise_bn(Musicnn())
    mel = torch.randn(2, 96, PATCH_FRAMES)
    with torch.no_grad():
        assert torch.equal(body(mel), body(mel))


def test_ensemble_concatenates_members():
    torch.manual_seed(0)
    a, b = _randomise_bn(Musicnn(), 1), _randomise_bn(Musicnn(), 2)
    ens = TagEnsemble({"MSD": a, "MTT": b}).eval()
    mel = torch.randn(2, 96, 50)
    with torch.no_grad():
        logits, acts = ens.forward_layers(mel)
        assert torch.equal(logits, torch.cat([a(mel), b(mel)], dim=1))
        assert acts["embedding"].shape == (2, 400)
    assert "MSD.timbral" in ens.layer_names and "MTT.penultimate" in ens.layer_names
    assert set(acts) == set(ens.layer_names)


def test_registry_builds_the_pretrained_archs():
    assert MODELS["musicnn"].pretrained and not MODELS["cnn"].pretrained
    assert MUSICNN_MEL.n_frames(round(WINDOW_S * 16000)) == PATCH_FRAMES
    assert MODELS["musicnn"].window_s == WINDOW_S
    assert isinstance(build_body("musicnn", 50), Musicnn)
    assert isinstance(build_body("musicnn-vgg", 50), MusicnnVGG)
    members = {"MSD": {"arch": "musicnn", "n_classes": 50}, "MTT": {"arch": "musicnn", "n_classes": 50}}
    assert isinstance(build_body("musicnn-ensemble", 100, members=members), TagEnsemble)
    from audioconcept.errors import AudioConceptError

    with pytest.raises(AudioConceptError, match="add up to 99"):
        build_body("musicnn-ensemble", 99, members=members)


@pytest.mark.slow
def test_torch_export_with_dynamic_batch_and_length():
    body = _randomise_bn(Musicnn())
    dims = {0: torch.export.Dim("batch", min=1, max=64), 2: torch.export.Dim("frames", min=40, max=20_000)}
    ep = torch.export.export(body, (torch.randn(2, 96, PATCH_FRAMES),), dynamic_shapes={"mel": dims})
    mel = torch.randn(3, 96, 250)
    with torch.no_grad():
        assert torch.allclose(ep.module()(mel), body(mel), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["musicnn", "musicnn-vgg"])
def test_onnx_dynamo_export_runs_in_onnxruntime(tmp_path, arch):
    import onnxruntime as ort

    body = _randomise_bn(build_body(arch, 50))
    mel = torch.randn(2, 96, PATCH_FRAMES)
    prog = torch.onnx.export(body, (mel,), dynamo=True, input_names=["mel"])
    prog.save(str(tmp_path / "m.onnx"))
    ops = {n.op_type for n in prog.model_proto.graph.node}
    assert not ops & {"Pad", "Log", "If", "Loop"}, ops
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"mel": mel.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, body(mel).numpy(), atol=1e-4)
