"""Encoders: features (B, T, F) -> unit-norm embeddings V (B, T, F, K)."""
