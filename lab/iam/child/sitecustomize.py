"""Loaded by every Python subprocess a recorded run starts (``hanat`` as its own process, ``chalice deploy``):
its AWS calls are decided as the parent's are, and its findings appended to ``HANAT_IAM_SUBPROCESS_LOG`` (one
JSON line each), which the parent's recorder takes in (lab/iam/hook.py ``child_processes``)."""
from __future__ import annotations

import atexit
import os
import sys

LOG = os.environ.get("HANAT_IAM_SUBPROCESS_LOG")

if LOG:
    from lab.iam import hook

    hook.install()
    hook.RECORDER.reset(os.environ.get("HANAT_IAM_STAGE") or None)
    hook.RECORDER.active = True
    if "chalice.cli" in " ".join(getattr(sys, "orig_argv", ())):   # bootstrap/deploy/chalice_cli.py: the operator's
        from lab.iam.callers import OPERATOR

        hook.RECORDER.no_frame_principal = OPERATOR

    @atexit.register
    def _write_findings() -> None:
        findings = hook.RECORDER.drain()
        if findings:
            with open(LOG, "a", encoding="utf-8") as log:
                log.writelines(f.to_line() for f in findings)
