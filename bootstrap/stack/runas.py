"""Is Session Manager's Run As support on? ``permissions.allow_sudo = false`` relies on it (reads only).

hanat tags such users ``SSMSessionRunAs=hanat-user``, but Session Manager honours the tag only when
"Run As support" is enabled in the account's Session Manager preferences for the region, which live in
the SSM document SSM-SessionManagerRunShell (``inputs.runAsEnabled``; the document exists only once
preferences were saved). Otherwise sessions open as ssm-user, which has sudo. ``up`` says so, with
the one command that turns it on (Systems Manager User Guide: "Turn on run as support for Linux and
macOS managed nodes"; "Update Session Manager preferences (command line)").
"""
from __future__ import annotations

import json
import shlex

from chalicelib.aws import params

RUN_AS_DOCUMENT = "SSM-SessionManagerRunShell"
# What the console writes when preferences are first saved (Session document schema 1.0).
DEFAULT_PREFERENCES = {"schemaVersion": "1.0", "description": "Document to hold regional settings for Session Manager",
                       "sessionType": "Standard_Stream", "inputs": {}}


def run_as_warning(content: str | None, users: list[str], region: str) -> str | None:
    """The warning for ``users`` (those with allow_sudo = false), or None when Run As is on (pure)."""
    if not users:
        return None
    document = None
    if content is not None:
        try:
            document = json.loads(content)
        except ValueError:
            document = None
    inputs = (document or {}).get("inputs") or {}
    if document is not None and inputs.get("runAsEnabled") is True:
        return None
    fixed = dict(document or DEFAULT_PREFERENCES)
    fixed["inputs"] = {**inputs, "runAsEnabled": True}
    body = shlex.quote(json.dumps(fixed, separators=(",", ":")))
    if content is None:
        state = f"Session Manager preferences were never saved in {region} ({RUN_AS_DOCUMENT} does not exist)"
        command = (f"aws ssm create-document --region {region} --name {RUN_AS_DOCUMENT} --document-type Session "
                   f"--document-format JSON --content {body}")
    else:
        state = f"Run As support is off in {region}'s Session Manager preferences ({RUN_AS_DOCUMENT} inputs.runAsEnabled)"
        command = (f"aws ssm update-document --region {region} --name {RUN_AS_DOCUMENT} --document-version '$LATEST' "
                   f"--document-format JSON --content {body}")
    return (f"{state}: {', '.join(users)} (allow_sudo = false) would get sessions as ssm-user, WITH sudo, "
            f"not as hanat-user. Turn Run As on once for the account and region: {command}")


def check_run_as(ssm, users: list[str], region: str) -> str | None:
    """Read the preferences only when someone depends on Run As."""
    if not users:
        return None
    return run_as_warning(params.get_document_content(ssm, RUN_AS_DOCUMENT), users, region)
