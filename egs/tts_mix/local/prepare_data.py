#!/usr/bin/env python3
"""Stage 1 of egs/tts_mix: synthesise speakers with eSpeak NG and mix them (see dcsep.data.tts)."""

from dcsep.data.tts import main

if __name__ == "__main__":
    raise SystemExit(main())
