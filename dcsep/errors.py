"""Exceptions that carry a message meant for the user."""


class DcsepError(Exception):
    """Base of every error dcsep raises on purpose."""


class ConfigError(DcsepError, ValueError):
    """A configuration (YAML or keyword arguments) is invalid."""


class DataError(DcsepError, ValueError):
    """Input data (audio, scp lists, data dirs) is missing or invalid."""
