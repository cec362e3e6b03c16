"""SVD spectral clustering of the embeddings (placeholder module, filled in by the clusterer work)."""
