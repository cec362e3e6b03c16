"""SIGTERM/SIGINT handling during training, on its own."""

from __future__ import annotations

import signal

import pytest

from dcsep.train.signals import StopSignals


def test_first_signal_asks_second_stops_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    asked = []
    with pytest.raises(KeyboardInterrupt):
        with StopSignals(lambda: bool(asked), asked.append):
            signal.raise_signal(signal.SIGINT)
            assert asked == ["SIGINT"]
            signal.raise_signal(signal.SIGTERM)  # the second: stop at once
    assert signal.getsignal(signal.SIGTERM) is before


def test_not_in_the_main_thread_installs_nothing():
    import threading

    seen = {}

    def body():
        with StopSignals(lambda: False, lambda name: None) as s:
            seen["old"] = dict(s.old)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen["old"] == {}
