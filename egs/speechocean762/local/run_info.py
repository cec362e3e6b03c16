#!/usr/bin/env python3
"""One markdown paragraph on how a result was made: command, machine, software, date."""

from __future__ import annotations

import argparse
import platform
from datetime import datetime, timezone


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="local/run_info.py", description=__doc__)
    p.add_argument("--command", required=True, help="the command line that produced the results")
    p.add_argument("--text", default="", help="a sentence put first (model, data)")
    args = p.parse_args(argv)
    import torch

    import dcsep
    from dcsep.pretrained import machine_description

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_description()
    parts = [args.text] if args.text else []
    parts.append(f"Command: `{args.command}`.")
    parts.append(f"Machine: {machine}; dcsep {dcsep.__version__}, torch {torch.__version__}, Python {platform.python_version()}; {date}.")
    print(" ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
