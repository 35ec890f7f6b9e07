"""`up` reports (never assumes) whether Session Manager's Run As support is on when a user has
allow_sudo = false: without it the SSMSessionRunAs tag is ignored and sessions get ssm-user (sudo)."""
from __future__ import annotations

import json
import shlex

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.schema import PermissionConfig
from bootstrap.stack import StackClients, build_stack
from bootstrap.stack.runas import RUN_AS_DOCUMENT, run_as_warning
from controller.cli import main
from tests.integration.test_stack_up import ACCOUNT, REGION, make_config

PREFERENCES = {"schemaVersion": "1.0", "description": "Document to hold regional settings for Session Manager",
               "sessionType": "Standard_Stream",
               "inputs": {"s3BucketName": "", "cloudWatchLogGroupName": "sessions", "idleSessionTimeout": "20"}}


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        clients = StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)
        for name in ("alice", "bob"):
            clients.iam.create_user(UserName=name)
        yield clients


def users(sudo_for_alice: bool = False):
    return (PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/alice", allow_sudo=sudo_for_alice),
            PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/bob", allow_sudo=True))


def preferences(aws, run_as: bool | None):
    document = json.loads(json.dumps(PREFERENCES))
    if run_as is not None:
        document["inputs"]["runAsEnabled"] = run_as
    aws.ssm.create_document(Name=RUN_AS_DOCUMENT, DocumentType="Session", DocumentFormat="JSON",
                            Content=json.dumps(document))


def command_content(warning: str) -> dict:
    """The JSON the warning's command would store (it must be copyable as is)."""
    words = shlex.split(warning.split(": ", 2)[-1].split("region: ", 1)[-1])
    return json.loads(words[words.index("--content") + 1])


def test_no_preferences_document_means_run_as_is_off_and_up_says_how_to_create_it(aws):
    result = build_stack(make_config(users=users()), aws, wait_interval_s=0)
    [warning] = result.warnings
    assert "alice" in warning and "bob" not in warning and "ssm-user" in warning
    assert f"aws ssm create-document --region {REGION} --name {RUN_AS_DOCUMENT} --document-type Session" in warning
    assert command_content(warning)["inputs"] == {"runAsEnabled": True}
    assert result.to_dict()["warnings"] == [warning]


def test_run_as_off_in_saved_preferences_keeps_every_other_preference_in_the_fix(aws):
    preferences(aws, run_as=False)
    [warning] = build_stack(make_config(users=users()), aws, wait_interval_s=0).warnings
    assert "aws ssm update-document" in warning and "--document-version '$LATEST'" in warning
    fixed = command_content(warning)
    assert fixed["inputs"] == {**PREFERENCES["inputs"], "runAsEnabled": True}


@pytest.mark.parametrize("case", ["run-as-on", "everyone-may-sudo"])
def test_no_warning_when_run_as_is_on_or_nobody_needs_it(aws, case):
    preferences(aws, run_as=True if case == "run-as-on" else None)
    result = build_stack(make_config(users=users(sudo_for_alice=case == "everyone-may-sudo")), aws,
                         wait_interval_s=0)
    assert result.warnings == []


def test_a_warning_is_not_a_failure_on_the_command_line(aws, tmp_path, capsys):
    path = tmp_path / "hanat.toml"
    path.write_text(f'[stack]\nname = "t"\nregion = "{REGION}"\nvpc_cidr = "10.0.0.0/16"\n\n'
                    '[[zones]]\naz = "ap-northeast-1a"\n\n[[zones]]\naz = "ap-northeast-1c"\n\n'
                    '[probe]\ntargets = ["tcp://203.0.113.10:443"]\n\n'
                    f'[[permissions]]\niam_user_arn = "arn:aws:iam::{ACCOUNT}:user/alice"\nallow_sudo = false\n')
    with pytest.raises(SystemExit) as exit_:
        main(["up", "--config", str(path), "--json"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err
    assert "warning:" in err and "Run As" in err and json.loads(out)["warnings"]


def test_the_warning_is_pure_and_names_every_user():
    text = run_as_warning(None, ["alice", "carol"], "eu-west-1")
    assert "alice, carol" in text and "--region eu-west-1" in text
    assert run_as_warning('{"inputs": {"runAsEnabled": true}}', ["alice"], "eu-west-1") is None
    assert run_as_warning(None, [], "eu-west-1") is None
