"""Clusterers: embeddings V -> binary masks, one per source."""
