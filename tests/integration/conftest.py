"""The moto tier's shared ``stack`` fixture: the test stack of tests/support/stack.py, one per test.

Its options are those of ``build_stack``, given by the nearest ``stack`` marker (a module's
``pytestmark = pytest.mark.stack(stack="app", azs=AZS[:2])``, or a test's own). With ``server=True``
in the marker, or when the test uses ``emulator_env``, it is built in the loopback moto server (then
``HANAT_CONFIG`` names it, for the CLI); otherwise in in-process moto (``mock_aws``) for the test.

EC2's eventual consistency (``stale_reads``: hanat's Describe* reads answer from before a write for
``HANAT_STALE_READS_S`` seconds after it; https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)
is off by default in this tier (``STALE_READS_S``) and on in ``make test-stale`` (0.5 s): it costs about 1.7 times
the tier's wall time on an idle machine (250 s -> 416 s, -n 2; the same CPU: the adapters' read-backs wait
out the window), about 1.2 times on a loaded one. A test marked ``stale_reads_off(reason)`` runs
without it, its reason naming moto's behaviour that differs from EC2's. tests/integration/test_stale_reads.py
uses a longer window (2 s) for its own tests, and the lab's drills run with it (1 s).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib.topology import Topology
from lab.aws.stale_reads import StaleReads
from tests.support import consistency
from tests.support.iam_recording import recording
from tests.support.stack import build_stack, write_config

STALE_READS_S = 0.0   # `make test-stale`: HANAT_STALE_READS_S=0.5


@pytest.fixture(autouse=True)
def stale_reads(request) -> Iterator[StaleReads]:
    """EC2's eventual consistency for hanat's reads in this test (tests/support/consistency.py); a test marked
    ``stale_reads_off(reason)`` runs without it, its reason naming where moto differs from EC2."""
    window = 0.0 if request.node.get_closest_marker("stale_reads_off") else \
        float(os.environ.get("HANAT_STALE_READS_S", STALE_READS_S))
    with consistency.active(StaleReads(window)) as reads:
        yield reads


def pytest_configure(config):
    config.addinivalue_line("markers", "stack(**options): build_stack options of the `stack` fixture")
    config.addinivalue_line("markers", "stale_reads_off(reason): run without EC2's eventual consistency (moto differs from EC2)")


@pytest.fixture(autouse=True)
def iam_checked_calls(request):
    """Every AWS call the test makes as the operator or the controller is decided under IAM (lab/iam)."""
    with recording(label=request.node.nodeid):
        yield


@pytest.fixture
def stack(request, tmp_path, monkeypatch) -> Iterator[Topology]:
    marker = request.node.get_closest_marker("stack")
    options = dict(marker.kwargs) if marker else {}
    if options.pop("server", False) or "emulator_env" in request.fixturenames:
        request.getfixturevalue("emulator_env")          # reset first, then build in the server
        topo = build_stack(**options)
        monkeypatch.setenv("HANAT_CONFIG", write_config(topo, tmp_path / "hanat.toml"))
        yield topo
        return
    request.getfixturevalue("aws_env")
    with mock_aws():
        yield build_stack(**options)
