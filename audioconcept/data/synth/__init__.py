"""Synthetic GTZAN-style genres rendered from musical rules, with concept ground truth."""

from audioconcept.data.synth.score import CONCEPTS, ClipSpec, Score, compose, sample_spec

__all__ = ["CONCEPTS", "ClipSpec", "Score", "compose", "sample_spec"]
