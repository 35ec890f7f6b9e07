"""`make demo`: build the example stack in a local AWS emulator, show it, tear it down.

Starts a moto server on 127.0.0.1, runs `hanat up` and `hanat down` on examples/hanat.toml through
the real CLI code (pointed at the emulator by AWS_ENDPOINT_URL), and always stops the emulator,
also on failure or Ctrl-C. Nothing leaves the machine.
    .venv/bin/python -m lab.demo [--config FILE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controller.cli import main as hanat_main
from controller.output import err_console
from lab.emulator import Emulator, pointed_at

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hanat.toml"


def hanat(*args: str) -> int:
    """Run one `hanat` command in this process; returns its exit code."""
    err_console.rule(f"hanat {' '.join(args)}")
    try:
        hanat_main(list(args))
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def run_demo(config: Path) -> int:
    region = "ap-northeast-1"
    emulator = Emulator(region=region)
    err_console.print(f"starting the AWS emulator (moto) on {emulator.endpoint} ...")
    emulator.start()
    try:
        with pointed_at(emulator):
            for step in (("plan",), ("up",), ("up",), ("down",)):
                code = hanat(*step, "--config", str(config))
                if code != 0:
                    err_console.print(f"[red]demo stopped: hanat {step[0]} exited with {code}[/red]")
                    if step[0] != "down":
                        hanat("down", "--config", str(config))  # leave nothing behind
                    return code
        err_console.print("[green]demo done:[/green] built, re-applied with no change, and removed the stack")
        return 0
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    finally:
        emulator.stop()
        err_console.print("emulator stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="hanat demo against a local AWS emulator")
    parser.add_argument("--config", type=Path, default=EXAMPLE, help="hanat config (default: examples/hanat.toml)")
    args = parser.parse_args(argv)
    return run_demo(args.config)


if __name__ == "__main__":
    sys.exit(main())
