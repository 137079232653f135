"""Concept activation vectors, TCAV with significance tests, timelines and explanations."""
