"""The `hanat` command for tests: run in this process or as the operator's own process, one result.

``hanat(capsys, *argv)`` calls ``controller.cli.main`` here (what it prints is taken from capsys);
``hanat_process(*argv)`` runs ``python -m controller`` as an operator's shell would, with os.environ
(pointed at the loopback moto server by ``emulator_env``). Both answer ``CliRun(code, out, err)``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from controller.cli import main

ROOT = Path(__file__).resolve().parents[2]


class CliRun(NamedTuple):
    code: int
    out: str
    err: str


def hanat(capsys, *argv: str) -> CliRun:
    """`hanat ARGV...` in this process: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return CliRun(exit_.value.code, out, err)


def hanat_process(*argv: str, module: str = "controller", timeout: float = 300,
                  env: dict[str, str] | None = None) -> CliRun:
    """`hanat ARGV...` as a process of its own (``python -m controller``, or ``module``), in ``env`` (default:
    os.environ)."""
    proc = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, check=False,
                          env=dict(os.environ) if env is None else env, timeout=timeout, cwd=ROOT)
    return CliRun(proc.returncode, proc.stdout, proc.stderr)
