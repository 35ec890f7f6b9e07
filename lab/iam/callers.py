"""Who makes an AWS call, from the code on the stack: the operator, the controller, a probe, or setup.

IAM decides a call under the caller's policies, so the recorder first names the caller from the
call's frames (repository-relative file names, innermost first):

- ``setup``: the innermost frame of this repository is a test's or the lab's own, or a test's or the
  lab's frame calls one of chalicelib's adapters (``chalicelib/aws/``) directly: fixtures arranging
  state, tests and drills reading it back, the lab's fault injection (AWS's insides, not hanat); also a
  call made inside ``unrecorded()`` or by a client of the lab's observer (lab.aws.moto_server.OBSERVER_AGENT);
- ``operator``: a frame of ``controller/`` (the `hanat` command) or ``bootstrap/`` (the stack builder and
  `hanat deploy`) is on the stack below any test or lab frame: the operator's credentials, whatever
  chalicelib code it runs (the lab's own steps under `hanat lab drill` are not the operator's);
- ``probe``: a probe function's handler (chalicelib/probes/handler.py) without an operator frame;
- ``controller``: other chalicelib code or app.py (the Lambda handlers, the service functions tests
  call directly, the lab's heartbeat and Lambda endpoint threads);
- anything else (no frame of hanat at all, e.g. a library's own call) is ``setup``.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2]) + "/"
OPERATOR, CONTROLLER, PROBE, SETUP = "operator", "controller", "probe", "setup"
OBSERVER_MARK = "hanat-lab-observer"   # lab.aws.moto_server.OBSERVER_AGENT (not imported: no cycle)
_SETUP_ROOTS = ("tests/", "lab/", "bench/")
_OPERATOR_ROOTS = ("controller/", "bootstrap/")
_CONTROLLER_ROOTS = ("chalicelib/", "app.py")
_PROBE_FILE = "chalicelib/probes/handler.py"
_HOOK_FILES = ("lab/iam/", "tests/support/iam_")     # the recorder's own frames
_unrecorded: ContextVar[bool] = ContextVar("hanat_iam_unrecorded", default=False)


@contextmanager
def unrecorded() -> Iterator[None]:
    """Calls made inside are setup (a fixture arranging state through hanat's own adapters)."""
    token = _unrecorded.set(True)
    try:
        yield
    finally:
        _unrecorded.reset(token)


def is_unrecorded() -> bool:
    return _unrecorded.get()


def project_frames(depth: int = 1) -> list[str]:
    """``file:function`` of this repository's frames on the current stack, innermost first."""
    frames, frame = [], sys._getframe(depth)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(ROOT) and "/.venv/" not in name and not name[len(ROOT):].startswith(_HOOK_FILES):
            frames.append(f"{name[len(ROOT):]}:{frame.f_code.co_name}")
        frame = frame.f_back
    return frames


def classify(frames: Sequence[str], user_agent: str = "", unrecorded_call: bool = False,
             no_frame: str = SETUP) -> str:
    """The caller of one call from its project frames (innermost first); see the module docstring.
    ``no_frame``: the caller when no frame is hanat's (the operator, in a `chalice deploy` hanat runs)."""
    if unrecorded_call or OBSERVER_MARK in user_agent:
        return SETUP
    if not frames:
        return no_frame
    if frames[0].startswith(_SETUP_ROOTS):
        return SETUP
    caller = next((i for i, f in enumerate(frames) if not f.startswith(_CONTROLLER_ROOTS)), len(frames))
    if caller < len(frames) and frames[caller - 1].startswith("chalicelib/aws/") \
            and frames[caller].startswith(_SETUP_ROOTS):
        return SETUP
    # the operator's code below the first test or lab frame: `hanat lab drill` drives the lab from controller/,
    # but what the lab does (its emulated Lambda, its faults) is not the operator's call
    lab = next((i for i, f in enumerate(frames) if f.startswith(_SETUP_ROOTS)), len(frames))
    if any(f.startswith(_OPERATOR_ROOTS) for f in frames[:lab]):
        return OPERATOR
    if any(f.startswith(_PROBE_FILE) for f in frames):
        return PROBE
    if any(f.startswith(_CONTROLLER_ROOTS) for f in frames):
        return CONTROLLER
    return SETUP


def calling_frame(frames: Sequence[str]) -> str:
    """The frame to name in a report: the innermost one outside the adapters' plumbing."""
    plumbing = ("chalicelib/aws/calls.py", "chalicelib/aws/clients.py", "lab/iam/")
    return next((f for f in frames if not f.startswith(plumbing)), frames[0] if frames else "?")
