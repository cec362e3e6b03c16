"""Clusterers: embeddings V -> masks, one per source (binary, or shares of each bin for a soft clusterer)."""
