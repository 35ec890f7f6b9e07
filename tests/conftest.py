"""Shared fixtures. Tests never reach a real AWS endpoint or a real internet address."""
from __future__ import annotations

import os

from tests.support import consistency, emulation

emulation.prepare()  # before moto is imported: the tests' AMI catalogue, one botocore loader
consistency.install()  # before any client is made: EC2 stale reads, off until a test turns them on

import pytest

from lab.aws.emulator import FAKE_CREDENTIALS, Emulator

REGION = "ap-northeast-1"


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region for in-process moto (mock_aws); no endpoint override."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on 127.0.0.1 shared by the tests of a session; reset by ``emulator_env``."""
    emu = Emulator(region=REGION)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emulator_env(moto_server, monkeypatch):
    """os.environ pointed at the loopback moto server, with a clean slate."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_server
    moto_server.reset()


def is_root() -> bool:
    return os.geteuid() == 0


# `make test` runs the three tiers in one pytest-xdist run, a file per worker at a time (--dist loadfile
# --no-loadscope-reorder: in this order). The files that build lab sessions for minutes start at once; the
# moto tier's files fill the other workers around them, then the rest of the lab tier, then the unit tier
# (short files: the last gaps). Run tier after tier, the workers idled while one drill file ran on.
SESSIONS_FIRST = ("tests/lab/test_drills.py", "tests/lab/test_drills_day2.py", "tests/lab/test_drills_spot.py",
                  "tests/lab/test_drills_aws.py", "tests/integration/test_runbook.py")
THEN = ("tests/integration/", "tests/lab/test_dataplane.py", "tests/lab/test_nat_handoff.py",
        "tests/lab/test_dataplane_bench.py", "tests/lab/test_lab_computed.py", "tests/lab/", "tests/unit/")


def run_order(nodeid: str) -> tuple[int, int]:
    """A file's place: SESSIONS_FIRST in their order, then by the first entry of THEN its path starts with."""
    path = nodeid.split("::", 1)[0]
    if path in SESSIONS_FIRST:
        return 0, SESSIONS_FIRST.index(path)
    return 1, next((i for i, prefix in enumerate(THEN) if path.startswith(prefix)), len(THEN))


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: run_order(item.nodeid))   # stable: a file's tests keep their order
