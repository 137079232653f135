"""numpy signal processing for the 57 GTZAN features: librosa 0.11's definitions, without librosa,
numba or scipy. Frames are rows: a spectrogram is (frames, bins)."""
