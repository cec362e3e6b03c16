"""Exceptions that carry a message meant for the user."""


class DcsepError(Exception):
    """Base of every error dcsep raises on purpose."""


class ConfigError(DcsepError, ValueError):
    """A configuration (YAML or keyword arguments) is invalid."""


class DataError(DcsepError, ValueError):
    """Input data (audio, scp lists, data dirs) is missing or invalid."""


class OutputError(DcsepError, OSError):
    """An output file could not be written (disk full, no permission, ...).

    Files are written through a temporary file and a rename, so the previous
    version of the file, if any, is still in place.
    """
