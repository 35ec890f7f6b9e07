"""The hook that gives every AWS call of this process, and of the Python processes it starts, to lab.iam's recorder.

``install()`` has every botocore client made afterwards (boto3's, chalice's, hanat's own: botocore's
Session.create_client, reached through chalicelib.aws.clients) call ``RECORDER.on_call`` from
``before-parameter-build``, i.e. with the operation's own parameters before they are serialized, once per
request (each page of a paginator). ``child_processes()`` hooks the Python subprocesses started inside (``chalice deploy``,
``hanat`` run as its own process): their environment puts lab/iam/child on PYTHONPATH, whose
sitecustomize.py installs the same hook and appends the child's findings to the recorder's ``child_log``.
``checked()`` is what `hanat lab drill` runs its drills in (lab/cli.py); the tests' fixture is
tests/support/iam_recording.py. The recorder decides only while ``active`` (a drill: ``begin``/``end``).
"""
from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moto.core.models import MockAWS

from chalicelib.aws.clients import botocore_session_type
from lab.environ import environ_set

from .recorder import RECORDER, Recorder, extra_policies, policies_checked

CHILD_DIR = Path(__file__).resolve().parent / "child"     # its sitecustomize.py hooks a child process
ROOT = Path(__file__).resolve().parents[2]
CHILD_LOG_ENV, CHILD_STAGE_ENV = "HANAT_IAM_SUBPROCESS_LOG", "HANAT_IAM_STAGE"
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


def _register(client) -> None:
    client.meta.events.register("before-parameter-build", functools.partial(_hook, client),
                                unique_id="hanat-iam-recorder")
    client.meta.events.register("before-parameter-build.ec2.RunInstances", _keep_params,
                                unique_id="hanat-iam-launch-params")
    client.meta.events.register("after-call.ec2.RunInstances", functools.partial(_after, client),
                                unique_id="hanat-iam-launch-result")


def install() -> None:
    """Hook every client this process creates from now on (idempotent)."""
    global _installed
    if _installed:
        return
    session_type = botocore_session_type()
    original = session_type.create_client

    @functools.wraps(original)
    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        _register(client)
        return client

    session_type.create_client = create_client
    _installed = RECORDER.installed = True


@contextmanager
def child_processes(stage: str | None = None, recorder: Recorder = RECORDER) -> Iterator[str]:
    """Python subprocesses started inside are recorded too (their environment carries the hook: PYTHONPATH,
    HANAT_IAM_SUBPROCESS_LOG, HANAT_IAM_STAGE); their findings reach ``recorder`` through its ``child_log``.
    Yields the log's path; the environment is restored and the log removed at the end."""
    fd, child_log = tempfile.mkstemp(prefix="hanat-iam-", suffix=".log")
    os.close(fd)
    path = os.pathsep.join(filter(None, [str(CHILD_DIR), str(ROOT), os.environ.get("PYTHONPATH")]))
    try:
        with environ_set({CHILD_LOG_ENV: child_log, CHILD_STAGE_ENV: stage or "", "PYTHONPATH": path}):
            saved_log = recorder.swap_child_log(child_log)
            try:
                yield child_log
            finally:
                recorder.swap_child_log(*saved_log)     # what the children wrote is taken in first
    finally:
        os.unlink(child_log)


@contextmanager
def checked(stage: str, recorder: Recorder = RECORDER) -> Iterator[str]:
    """`hanat lab drill`'s IAM check: the hook installed, subprocesses hooked (unless a caller, a test's
    recording, already hooks them); each drill then decides its calls (``Recorder.begin``/``end``, in
    lab.drills.runner). Yields the sentence saying which policies decide whose calls. An unreadable
    HANAT_LAB_IAM_POLICY is bad input, before anything starts."""
    extra_policies()
    install()
    if recorder.child_log is not None:
        yield policies_checked()
        return
    with child_processes(stage, recorder):
        yield policies_checked()
