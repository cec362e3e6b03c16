"""Frontends: waveform -> (normalised) features and STFT, and back."""
