"""Concept audio with exact truth: real scores (music21 corpus, MIDI files) rendered stem by stem through
sampled-instrument soundfonts, with per-window instrument activity taken from the notes.

The measured concepts (loudness, brightness, ...) and the dataset build live above this layer, in
`audioconcept.models.measured_concepts` and `audioconcept.train.concept_renders`."""
