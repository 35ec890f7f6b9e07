"""The botocore hook that gives every AWS call of this process to lab.iam's recorder, and the check the
moto and lab tiers run after each test.

``install()`` wraps ``botocore.session.Session.create_client`` once: every client made afterwards (boto3's,
chalice's, hanat's own) calls ``RECORDER.on_call`` from ``before-parameter-build``, i.e. with the
operation's own parameters before they are serialized, once per request (each page of a paginator).
``recording()`` is the autouse fixture's body: the recorder is active for the test only, and the test
fails at teardown listing every call IAM would deny, or that the request model does not cover.
"""
from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import botocore.session
from moto.core.models import MockAWS

from lab.iam.recorder import RECORDER, Recorder

_installed = False


def _hook(client, params=None, model=None, **_kwargs) -> None:
    meta = client.meta
    RECORDER.on_call(meta.service_model.service_name, model.name, params or {}, meta.region_name,
                     meta.config.user_agent_extra or "", meta.endpoint_url, in_process=MockAWS._mocks_active)


def _after(client, http_response=None, parsed=None, model=None, **kwargs) -> None:
    params = kwargs.get("context", {}).get("hanat_iam_params", {})
    RECORDER.on_result(client.meta.service_model.service_name, model.name, params, parsed or {})


def _keep_params(params=None, context=None, **_kwargs) -> None:
    if context is not None:
        context["hanat_iam_params"] = params


def install() -> None:
    """Hook every client this process creates from now on (idempotent)."""
    global _installed
    if _installed:
        return
    original = botocore.session.Session.create_client

    @functools.wraps(original)
    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", functools.partial(_hook, client),
                                    unique_id="hanat-iam-recorder")
        client.meta.events.register("before-parameter-build.ec2.RunInstances", _keep_params,
                                    unique_id="hanat-iam-launch-params")
        client.meta.events.register("after-call.ec2.RunInstances", functools.partial(_after, client),
                                    unique_id="hanat-iam-launch-result")
        return client

    botocore.session.Session.create_client = create_client
    _installed = RECORDER.installed = True


SUBPROCESS_DIR = Path(__file__).resolve().parent / "iam_subprocess"     # its sitecustomize.py hooks a child
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def recording(stage: str | None = None, recorder: Recorder = RECORDER, label: str = "") -> Iterator[Recorder]:
    """Record and decide the calls made inside, also by Python subprocesses started inside (their
    environment carries the hook: PYTHONPATH and HANAT_IAM_SUBPROCESS_LOG); raise AssertionError listing
    the findings at the end."""
    install()
    recorder.reset(stage)
    recorder.active = True
    fd, child_log = tempfile.mkstemp(prefix="hanat-iam-", suffix=".log")
    os.close(fd)
    saved = {k: os.environ.get(k) for k in ("HANAT_IAM_SUBPROCESS_LOG", "HANAT_IAM_STAGE", "PYTHONPATH")}
    os.environ.update(HANAT_IAM_SUBPROCESS_LOG=child_log, HANAT_IAM_STAGE=stage or "", PYTHONPATH=os.pathsep.join(
        filter(None, [str(SUBPROCESS_DIR), str(ROOT), saved["PYTHONPATH"]])))
    try:
        yield recorder
    finally:
        recorder.active = False
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    findings = [str(f) for f in recorder.drain()]
    with open(child_log, encoding="utf-8") as log:
        findings += [f"(subprocess) {line.rstrip()}" for line in log if line.strip()]
    os.unlink(child_log)
    if findings and os.environ.get("HANAT_IAM_LOG"):     # one file for a whole run's findings (triage)
        with open(os.environ["HANAT_IAM_LOG"], "a", encoding="utf-8") as log:
            log.writelines(f"{label} {f}\n" for f in findings)
    assert not findings, "AWS calls IAM would deny or the lab does not model (lab/iam):\n" + "\n".join(
        f"  {f}" for f in findings)
