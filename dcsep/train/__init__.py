"""Training: trainer, checkpoints, distributed launch."""
