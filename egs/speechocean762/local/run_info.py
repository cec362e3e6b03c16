#!/usr/bin/env python3
"""One markdown paragraph on how a result was made: command, machine, software, date."""

from __future__ import annotations

import argparse
import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="local/run_info.py", description=__doc__)
    p.add_argument("--command", required=True, help="the command line that produced the results")
    p.add_argument("--text", default="", help="a sentence put first (model, data)")
    args = p.parse_args(argv)
    import torch

    import dcsep

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{cpu_name()}, {os.cpu_count()} cores, {gpu}"
    parts = [args.text] if args.text else []
    parts.append(f"Command: `{args.command}`.")
    parts.append(f"Machine: {machine}; dcsep {dcsep.__version__}, torch {torch.__version__}, Python {platform.python_version()}; {date}.")
    print(" ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
