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


def one_line(e: BaseException) -> str:
    """The message of ``e`` on one line, for ``prog: error: ...``.

    An error raised in a DataLoader worker comes back with the worker's
    traceback in its message; only the original message is kept.
    """
    text = str(e)
    if "Original Traceback" in text:
        prefix = f"{type(e).__module__}.{type(e).__qualname__}: "
        last = [ln for ln in text.splitlines() if ln.startswith(prefix)]
        if last:
            text = last[-1][len(prefix) :]
    return " ".join(text.split())
