#!/usr/bin/env python3
"""Stage 1 of the wsj0-mix recipes: build wsj0-<C>mix from WSJ0 (see dcsep.data.wsj0mix)."""

from dcsep.data.wsj0mix import main

if __name__ == "__main__":
    raise SystemExit(main())
