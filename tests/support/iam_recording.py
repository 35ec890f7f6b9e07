"""The check the moto and lab tiers run around each test (their autouse fixtures): every AWS call the test
makes, and the Python subprocesses it starts make, is decided under IAM by lab.iam (lab/iam/hook.py), and
the test fails at teardown listing every call IAM would deny, or that the request model does not cover."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from lab.iam import hook
from lab.iam.recorder import RECORDER, Recorder


@contextmanager
def recording(stage: str | None = None, recorder: Recorder = RECORDER, label: str = "") -> Iterator[Recorder]:
    """Record and decide the calls made inside, also by Python subprocesses started inside; raise
    AssertionError listing the findings at the end (``HANAT_IAM_LOG`` names a file that collects a whole
    run's findings, for triage)."""
    hook.install()
    recorder.reset(stage)
    recorder.active = True
    try:
        with hook.child_processes(stage, recorder):
            yield recorder
    finally:
        recorder.active = False
    findings = [str(f) for f in recorder.drain()]
    if findings and os.environ.get("HANAT_IAM_LOG"):
        with open(os.environ["HANAT_IAM_LOG"], "a", encoding="utf-8") as log:
            log.writelines(f"{label} {f}\n" for f in findings)
    assert not findings, "AWS calls IAM would deny or the lab does not model (lab/iam):\n" + "\n".join(
        f"  {f}" for f in findings)
