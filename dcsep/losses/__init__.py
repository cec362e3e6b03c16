"""Training objectives on embeddings V and ideal-binary-mask targets Y."""
