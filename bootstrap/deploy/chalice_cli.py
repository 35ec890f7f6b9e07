"""Run the Chalice CLI as a subprocess of the same Python, environment passed through (so
AWS_ENDPOINT_URL, AWS_PROFILE and AWS_REGION reach it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chalicelib.errors import HanatError

CHALICE_MAIN = "import sys; from chalice.cli import main; sys.exit(main())"


class ChaliceFailed(HanatError):
    """``chalice deploy|package`` exited non-zero."""


def run_chalice(args: list[str], project_dir: str | Path, *, region: str | None = None,
                timeout_s: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if region:  # the stack's region, whatever the shell's AWS_REGION/AWS_DEFAULT_REGION say
        env["AWS_DEFAULT_REGION"] = region
        env["AWS_REGION"] = region
    cmd = [sys.executable, "-c", CHALICE_MAIN, "--project-dir", str(project_dir), *args]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ChaliceFailed(f"chalice {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return proc
