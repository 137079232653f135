"""Audio I/O, datasets and the synthetic generator."""
