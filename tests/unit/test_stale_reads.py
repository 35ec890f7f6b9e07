"""EC2's eventual consistency as the emulators model it (lab.aws.stale_reads) and who gets it
(tests/support/consistency.hanat_caller). "The result of an API command you run that affects your Amazon
EC2 resources might not be immediately visible to all subsequent commands you run"
(https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): a read right after a write may
answer from before it, for a moment; later reads see it."""
from __future__ import annotations

import sys
import threading

import pytest

from lab.aws.stale_reads import StaleReads, is_stale_able_read, is_write
from tests.support import consistency

W = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_a_read_after_a_write_answers_from_before_it_for_the_window_then_the_truth(clock):
    reads = StaleReads(W, clock)
    assert reads.answer("r", "k") is None            # never asked: the truth
    reads.saw("r", "k", {"route": "old"}, clock.now)
    clock.now += 5
    assert reads.answer("r", "k") is None            # no write since: the truth (and the caller reads it)
    reads.wrote("r")
    clock.now += W / 2
    assert reads.answer("r", "k") == {"route": "old"}
    clock.now += W / 2
    assert reads.answer("r", "k") is None            # the window has passed since the write
    assert reads.counts == {"reads": 4, "stale": 1, "writes": 1}


def test_an_answer_remembered_after_the_write_is_not_stale(clock):
    reads = StaleReads(W, clock)
    reads.wrote("r")
    clock.now += 0.1
    reads.saw("r", "k", {"route": "new"}, clock.now)
    assert reads.answer("r", "k") is None


def test_a_stale_answer_never_hides_a_write_older_than_the_window(clock):
    reads = StaleReads(W, clock)
    reads.saw("r", "k", {"route": "v0"}, clock.now)
    clock.now += 1
    reads.wrote("r")                                 # settled by the time of the read below
    clock.now += W + 1
    reads.wrote("r")                                 # recent
    clock.now += 0.1
    assert reads.answer("r", "k") is None            # v0 lacks the settled write: read the truth


def test_pruned_writes_keep_the_answer_right(clock):
    reads = StaleReads(W, clock)
    reads.saw("r", "k", {"v": 0}, clock.now)
    for _ in range(50):
        clock.now += 1
        reads.wrote("r")
    assert len(reads._writes["r"]) <= 3
    clock.now += 0.5
    assert reads.answer("r", "k") is None


def test_scopes_and_shapes_are_apart(clock):
    reads = StaleReads(W, clock)
    reads.saw("r1", "k", {"v": 1}, clock.now)
    reads.saw("r1", "other", {"v": 2}, clock.now)
    clock.now += 0.1
    reads.wrote("r2")
    assert reads.answer("r1", "k") is None           # a write in another region
    reads.wrote("r1")
    assert reads.answer("r1", "k") == {"v": 1} and reads.answer("r1", "other") == {"v": 2}
    assert reads.answer("r1", "never") is None


def test_answers_are_copies(clock):
    reads = StaleReads(W, clock)
    seen = {"tables": [1]}
    reads.saw("r", "k", seen, clock.now)
    seen["tables"].append(2)
    clock.now += 0.1
    reads.wrote("r")
    served = reads.answer("r", "k")
    served["tables"].append(3)
    assert reads.answer("r", "k") == {"tables": [1]}


def test_settle_makes_every_write_so_far_visible(clock):
    reads = StaleReads(W, clock)
    reads.saw("r", "k", {"v": 0}, clock.now)
    clock.now += 0.1
    reads.wrote("r")
    reads.settle()
    assert reads.answer("r", "k") is None
    reads.saw("r", "k", {"v": 1}, clock.now)
    clock.now += 0.1
    reads.wrote("r")
    assert reads.answer("r", "k") == {"v": 1}        # later writes lag again


def test_a_write_that_does_not_lag_is_seen_at_once_with_everything_before_it(clock):
    reads = StaleReads(W, clock)
    reads.saw("r", "k", {"v": 0}, clock.now)
    reads.saw("r2", "k", {"v": 0}, clock.now)
    clock.now += 0.1
    reads.wrote("r")
    reads.wrote("r2")
    reads.wrote("r", lags=False)                     # e.g. a test stops a NAT: hanat sees it at once
    assert reads.answer("r", "k") is None
    assert reads.answer("r2", "k") == {"v": 0}       # another scope keeps its lag
    assert reads.counts["writes"] == 3


def test_window_zero_is_off_and_a_negative_window_is_refused(clock):
    reads = StaleReads(0, clock)
    reads.saw("r", "k", {"v": 0}, clock.now)
    reads.wrote("r")
    assert not reads.on and reads.answer("r", "k") is None
    with pytest.raises(ValueError, match="-1"):
        StaleReads(-1)


@pytest.mark.parametrize(("action", "read", "write"), [
    ("DescribeRouteTables", True, False), ("DescribeInstances", True, False), ("GetConsoleOutput", False, False),
    ("ReplaceRoute", False, True), ("RunInstances", False, True), ("CreateTags", False, True),
    ("AssociateAddress", False, True), ("DisassociateAddress", False, True), ("TerminateInstances", False, True),
])
def test_reads_and_writes(action, read, write):
    assert (is_stale_able_read(action), is_write(action)) == (read, write)


def _frame_in(relative: str, inner):
    """A function of code that claims to live at ``relative`` in this repository, calling ``inner``."""
    def call():
        return inner()
    call.__code__ = call.__code__.replace(co_filename=str(consistency.ROOT / relative))
    return call


@pytest.mark.parametrize(("chain", "hanat"), [
    (["chalicelib/service/reconcile.py"], True),
    (["bootstrap/stack/executor.py"], True),
    (["controller/commands/ops.py"], True),
    (["app.py"], True),
    (["chalicelib/aws/routes.py"], True),                                   # only the adapters: a worker of hanat's
    (["tests/integration/test_x.py", "chalicelib/aws/routes.py"], False),   # a test's check through an adapter
    (["lab/session.py", "chalicelib/aws/instances.py"], False),             # the lab's own look
    (["lab/session.py", "chalicelib/service/sweep.py", "chalicelib/aws/routes.py"], True),  # the lab runs hanat
    (["tests/unit/test_x.py"], False),
    ([], False),                                                            # no code of this repository
])
def test_hanat_caller_is_the_innermost_frame_outside_the_adapters(chain, hanat):
    """Run in a thread of its own, so the stack holds only the chain (and threading's frames)."""
    seen = []

    def call():
        seen.append(consistency.hanat_caller(sys._getframe(1)))
    for relative in reversed(chain):      # the last one is the innermost
        call = _frame_in(relative, call)
    worker = threading.Thread(target=call)
    worker.start()
    worker.join()
    assert seen == [hanat]
