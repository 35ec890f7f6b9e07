"""Loaded by every Python subprocess a recorded test starts (``hanat`` as its own process, ``chalice deploy``):
its AWS calls are decided as the parent's are, and its findings appended to ``HANAT_IAM_SUBPROCESS_LOG``,
which the parent's fixture reads (tests/support/iam_recording.py ``recording``)."""
from __future__ import annotations

import atexit
import os
import sys

if os.environ.get("HANAT_IAM_SUBPROCESS_LOG"):
    from tests.support import iam_recording

    iam_recording.install()
    iam_recording.RECORDER.reset(os.environ.get("HANAT_IAM_STAGE") or None)
    iam_recording.RECORDER.active = True
    if "chalice.cli" in " ".join(getattr(sys, "orig_argv", ())):   # bootstrap/deploy/chalice_cli.py: the operator's
        from lab.iam.callers import OPERATOR

        iam_recording.RECORDER.no_frame_principal = OPERATOR

    @atexit.register
    def _write_findings() -> None:
        findings = iam_recording.RECORDER.drain()
        if findings:
            with open(os.environ["HANAT_IAM_SUBPROCESS_LOG"], "a", encoding="utf-8") as log:
                log.writelines(f"{f}\n" for f in findings)
