"""Data: audio I/O, Kaldi-style data dirs, datasets, mixture creation."""
