"""A genre head on a tagger (TagProbe) and what the exported graphs read from tag bodies."""

import pytest
import torch
from torch import nn

from audioconcept.errors import AudioConceptError
from audioconcept.models.musicnn import PATCH_FRAMES, Musicnn, MusicnnVGG, TagEnsemble
from audioconcept.models.outputs import BodyOutputs, has_native_concepts, output_names
from audioconcept.models.probe import ProbeConfig, TagProbe
from audioconcept.models.registry import build_body, get_spec, window_framing
from tests.models.test_musicnn import _randomise_bn

MEMBERS = {"MSD": {"arch": "musicnn", "n_classes": 50}, "MTT": {"arch": "musicnn", "n_classes": 50}}


def _ensemble() -> TagEnsemble:
    return TagEnsemble({"MSD": _randomise_bn(Musicnn(), 1), "MTT": _randomise_bn(Musicnn(), 2)}).eval()


def test_taggers_output_sigmoid_tags_as_their_concepts():
    mel = torch.randn(2, 96, PATCH_FRAMES)
    for body in (_randomise_bn(Musicnn()), _randomise_bn(MusicnnVGG())):
        assert body.multi_label and has_native_concepts(body)
        out = BodyOutputs(body).eval()
        assert out.with_concepts
        with torch.no_grad():
            logits, probs, emb, concepts, frames = out(mel)
        assert torch.allclose(probs, torch.sigmoid(logits)) and torch.equal(concepts, probs)
        assert frames.shape == (2, 50, 1) and torch.equal(frames[..., 0], concepts)
    assert output_names(True)[-2:] == ["concepts", "concept_frames"]


def test_concept_head_probe_is_linear_in_the_tag_probabilities():
    torch.manual_seed(0)
    ens = _ensemble()
    probe = TagProbe(ens, ProbeConfig("musicnn-ensemble", 100, 10, "concepts")).eval()
    assert probe.layer_names[-1] == "tags" and "MSD.midend3" in probe.layer_names
    mel = torch.randn(3, 96, PATCH_FRAMES)
    with torch.no_grad():
        logits, acts = probe.forward_layers(mel)
        tags = torch.sigmoid(ens(mel))
        assert torch.allclose(acts["tags"], tags)
        assert torch.allclose(logits, tags @ probe.head.weight.T + probe.head.bias, atol=1e-6)
        logits2, probs, emb, concepts, frames = BodyOutputs(probe).eval()(mel)
    assert not probe.__class__.__dict__.get("multi_label")  # genres: one softmax
    assert torch.allclose(probs.sum(-1), torch.ones(3)) and torch.allclose(concepts, tags)
    assert emb.shape == (3, 400) and frames.shape == (3, 100, 1)


def test_embedding_probe_reads_the_pooled_embedding():
    ens = _ensemble()
    probe = TagProbe(ens, ProbeConfig("musicnn-ensemble", 100, 4, "embedding", 400)).eval()
    mel = torch.randn(2, 96, PATCH_FRAMES)
    with torch.no_grad():
        logits, acts = probe.forward_layers(mel)
        assert torch.allclose(logits, probe.head(acts["embedding"]))
    with pytest.raises(ValueError, match="head must be"):
        TagProbe(ens, ProbeConfig("musicnn-ensemble", 100, 4, "pooled"))


def test_registry_builds_probes_and_frames_musicnn_like_the_whole_song():
    backbone = {"arch": "musicnn-ensemble", "n_tags": 100, "arch_config": {"members": MEMBERS}}
    probe = build_body("musicnn-probe", 10, backbone=backbone, head="concepts", n_features=100)
    assert isinstance(probe, TagProbe) and isinstance(probe.backbone, TagEnsemble)
    assert isinstance(probe.head, nn.Linear) and probe.head.weight.shape == (10, 100)
    with pytest.raises(AudioConceptError, match="backbone"):
        build_body("musicnn-probe", 10)
    assert get_spec("musicnn-probe").song_framing and not get_spec("cnn").song_framing
    from audioconcept.models.frontend_config import MelConfig
    from audioconcept.models.musicnn import MUSICNN_MEL

    mel, context = window_framing("musicnn-probe", MUSICNN_MEL.to_dict())
    assert (mel.center, context) == (False, 256)
    assert mel.n_frames(47_616 + 2 * context) == PATCH_FRAMES
    assert window_framing("cnn", MelConfig().to_dict()) == (MelConfig(), 0)
