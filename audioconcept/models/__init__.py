"""Architectures, the mel front end and the SVM pipeline (needs the `train` extra)."""
