"""The moto tier's EC2 eventual consistency: lab.aws.stale_reads on every botocore client, for hanat's reads.

``install()`` (tests/conftest.py, once, before any client is made) adds two handlers to every botocore
client of this process: ``before-call.ec2`` answers a Describe* from the ``StaleReads`` memory when the
caller is hanat and the read is stale; ``after-call.ec2`` remembers the truth's answers and the writes:
hanat's own lag, a test's (its arrangement: a NAT stopped, a route edited by hand, standing for a change
made a while ago) are seen at once. ``active(StaleReads(W))`` turns it on for a
test (tests/integration/conftest.py does, with ``HANAT_STALE_READS_S``); by default it is off.

Who is hanat is read from the call's stack (``hanat_caller``): the innermost frame of this repository
outside the shared adapters (``chalicelib/aws/``) decides — ``chalicelib/``, ``bootstrap/``,
``controller/`` or ``app.py``: hanat (its reads may be stale); ``tests/`` or ``lab/``: a test's or the
lab's own check (the truth). A call made only through the adapters (a worker thread of hanat's) is hanat's.
A ``hanat`` run as a process of its own (``tests/support/cli.hanat_process``) is not covered here.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import botocore.handlers

from lab.aws.stale_reads import StaleReads, is_stale_able_read, is_write

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = f"{ROOT / 'chalicelib' / 'aws'}{os.sep}"
HANAT = tuple(f"{ROOT / name}{os.sep}" for name in ("chalicelib", "bootstrap", "controller")) + (str(ROOT / "app.py"),)
CHECKS = tuple(f"{ROOT / name}{os.sep}" for name in ("tests", "lab"))
SHAPE = "hanat_stale_shape"     # where before-call leaves the read's (scope, shape, sent_at) for after-call
SERVED = "hanat_stale_served"

_state: dict = {"reads": None, "everyone": False}


def hanat_caller(frame) -> bool:
    """True when the call on this stack is hanat's own (see the module doc)."""
    through_adapters = False
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(ADAPTERS):
            through_adapters = True
        elif path.startswith(HANAT):
            return True
        elif path.startswith(CHECKS) and path != __file__:
            return False
        frame = frame.f_back
    return through_adapters


def _lags_for(frame) -> bool:
    return _state["everyone"] or hanat_caller(frame)


def _shape(model, params) -> str:
    return json.dumps([model.name, params.get("body")], sort_keys=True, default=str)


def before_call(model, params, context, **_):
    reads = _state["reads"]
    if reads is None or not is_stale_able_read(model.name) or not _lags_for(sys._getframe(1)):
        return None
    scope, shape, sent_at = context.get("client_region"), _shape(model, params), reads.clock()
    context[SHAPE] = (scope, shape, sent_at)
    answer = reads.answer(scope, shape, sent_at)
    if answer is None:
        return None
    context[SERVED] = True
    status_code, headers, parsed = answer
    return SimpleNamespace(status_code=status_code, headers=headers, content=b""), parsed


def after_call(http_response, parsed, model, context, **_):
    reads = _state["reads"]
    if reads is None or http_response.status_code >= 300 or context.get(SERVED):
        return
    if is_write(model.name):
        reads.wrote(context.get("client_region"), lags=_lags_for(sys._getframe(1)))
    elif SHAPE in context:
        scope, shape, sent_at = context[SHAPE]
        reads.saw(scope, shape, (http_response.status_code, dict(http_response.headers), parsed), sent_at)


def install() -> None:
    """Add the handlers to every botocore session made from now on (idempotent)."""
    for event, handler in (("before-call.ec2", before_call), ("after-call.ec2", after_call)):
        if (event, handler) not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append((event, handler))


@contextmanager
def active(reads: StaleReads, *, everyone: bool = False) -> Iterator[StaleReads]:
    """``reads`` answers hanat's EC2 reads in this process until the block ends; ``everyone``: every
    caller's (a test of an adapter, called from the test itself, reads and writes as hanat would)."""
    previous = dict(_state)
    _state.update(reads=reads, everyone=everyone)
    try:
        yield reads
    finally:
        _state.update(previous)
