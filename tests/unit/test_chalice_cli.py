"""Chalice runs in the stack's region, not in whatever region the operator's shell names."""
from __future__ import annotations

import subprocess

import pytest

from bootstrap.deploy import chalice_cli


@pytest.fixture
def captured(monkeypatch):
    seen: dict = {}

    def fake_run(cmd, **kwargs):
        seen.update(cmd=cmd, env=kwargs["env"])
        return subprocess.CompletedProcess(cmd, 0, "ok", "")
    monkeypatch.setattr(chalice_cli.subprocess, "run", fake_run)
    return seen


@pytest.mark.parametrize("shell", [{}, {"AWS_REGION": "us-east-1"}, {"AWS_DEFAULT_REGION": "eu-west-1"},
                                   {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "eu-west-1"}],
                         ids=["unset", "aws-region", "default-region", "both"])
def test_the_stacks_region_wins_over_the_shells(monkeypatch, captured, shell):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in shell.items():
        monkeypatch.setenv(key, value)
    chalice_cli.run_chalice(["deploy", "--stage", "s"], "/tmp/p", region="ap-northeast-1")
    assert captured["env"]["AWS_REGION"] == captured["env"]["AWS_DEFAULT_REGION"] == "ap-northeast-1"
    assert captured["cmd"][-3:] == ["deploy", "--stage", "s"]


def test_no_region_keeps_the_environment(monkeypatch, captured):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    chalice_cli.run_chalice(["package"], "/tmp/p")
    assert captured["env"]["AWS_REGION"] == "us-east-1"
