"""Thin command-line wrappers."""
