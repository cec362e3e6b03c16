"""dcsep: single-channel speech separation by deep clustering."""

__version__ = "0.1.0"
