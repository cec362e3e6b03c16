"""SIGTERM / SIGINT during training: the first asks for a checkpoint and a clean stop, a second stops at once."""

from __future__ import annotations

import signal
import threading
from typing import Callable


class StopSignals:
    """Install the handlers for the duration of a ``with`` block (only in the main thread).

    Args:
        requested: tells whether a stop was already asked for.
        request: called with the signal's name (``"SIGTERM"``) on the first signal;
            it must not log (the handler may interrupt the logger itself).

    Example:
        >>> asked = []
        >>> with StopSignals(lambda: bool(asked), asked.append):
        ...     signal.raise_signal(signal.SIGTERM)
        >>> asked
        ['SIGTERM']
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, requested: Callable[[], bool], request: Callable[[str], None]):
        self.requested = requested
        self.request = request
        self.old: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.requested():  # second signal: stop now
            signal.signal(signum, self.old.get(signum) or signal.SIG_DFL)
            raise KeyboardInterrupt
        self.request(signal.Signals(signum).name)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self.old = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self.old.items():
            signal.signal(s, h)
        self.old = {}
