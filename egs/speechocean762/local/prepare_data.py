#!/usr/bin/env python3
"""Stage 1 of egs/speechocean762: check, resample and mix the corpus (see dcsep.data.speechocean)."""

from dcsep.data.speechocean import main

if __name__ == "__main__":
    raise SystemExit(main())
