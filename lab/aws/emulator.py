"""The embedded AWS emulator: a moto server on 127.0.0.1 (a free port), started and stopped by us.

Used by ``make demo``, the lab, the CLI tests and the benchmarks. Nothing here reaches the internet.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from lab.environ import environ_set

REPO_ROOT = Path(__file__).resolve().parents[2]

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A moto server in a child process, listening on loopback only."""

    def __init__(self, region: str = "ap-northeast-1", port: int | None = None):
        self.region = region
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and chalice, and the CLI) at this emulator."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def start(self, timeout_s: float = 30.0) -> Self:
        # moto's server with atomic DynamoDB writes and idempotent RunInstances (lab/aws/moto_server.py)
        cmd = [sys.executable, "-m", "lab.aws.moto_server", "-H", "127.0.0.1", "-p", str(self.port)]
        pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, **FAKE_CREDENTIALS, "PYTHONPATH": pythonpath},
                                      start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._proc.returncode}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout_s:.0f}s")

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    def faults(self, **settings) -> dict:
        """Switch the emulator's API faults at run time (lab.aws.moto_server: ``ec2_throttle=0.5``, ``seed``);
        with no settings, read them. Returns the switches and the counts (``ec2_calls``, ``ec2_throttled``)."""
        data = json.dumps(settings).encode() if settings else None
        req = urllib.request.Request(f"{self.endpoint}/lab-api/faults", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def generation(self) -> int:
        """How many EC2 calls that may have changed something the emulator has run (lab.aws.moto_server):
        equal twice, nothing a watcher reads from EC2 changed in between."""
        with urllib.request.urlopen(f"{self.endpoint}/lab-api/generation", timeout=5) as resp:
            return int(json.loads(resp.read())["ec2"])

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def pointed_at(emulator: Emulator):
    """Temporarily set os.environ so boto3 in this process talks to ``emulator``."""
    with environ_set(emulator.env()):
        yield emulator
