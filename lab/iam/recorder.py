"""Record every AWS call hanat makes and decide it under its caller's IAM policies; keep what IAM denies.

``Recorder.on_call`` is given each API call (by a botocore hook the tests install: tests/support/
iam_recording.py). The caller (lab.iam.callers) picks the policies, as on AWS:
- operator: examples/iam-policy-operator.json as shipped, plus examples/iam-policy-operator-adopt.json
  when the region holds a VPC hanat did not build (the operator adopting it attached both);
- controller / probe: the inline policies of the roles ``hanat deploy`` wrote into the emulator
  (bootstrap/deploy/roles.py), or, when nothing was deployed, what it would write for each stack whose
  topology the emulator holds (bootstrap.deploy.policy.controller_policy / probe_policy);
- setup: not decided.
A call is a finding when any of its requests is denied under every candidate policy set, or when the
request model or the evaluator does not model it (NotModelled).
"""
from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bootstrap.deploy.policy import controller_policy, probe_policy
from chalicelib.naming import topic_name

from . import callers
from .errors import NotModelled
from .evaluate import evaluate
from .lookups import EmulatorLook, loopback
from .requests import ACCOUNT, Call, requests_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULT_STAGE = "dev"
# writes that change which policies apply: the cached policy sets are read again after them
POLICY_WRITES = {("ssm", "PutParameter"), ("ssm", "DeleteParameter"), ("iam", "PutRolePolicy"),
                 ("iam", "DeleteRolePolicy"), ("iam", "DeleteRole")}


def operator_policy(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@dataclass(frozen=True)
class Finding:
    principal: str
    call: str            # "ec2.RunInstances"
    verdict: str         # the evaluator's reason, or "not modelled: ..."
    frame: str           # the calling frame (file:function)

    def __str__(self) -> str:
        return f"[{self.principal}] {self.call} from {self.frame}: {self.verdict}"


class Recorder:
    """Decides the calls given to ``on_call`` while ``active``; ``drain()`` hands back the findings."""

    def __init__(self, stage: str = DEFAULT_STAGE, look: Callable[..., EmulatorLook] = EmulatorLook):
        self.stage = stage
        self.active = False
        self.calls = 0              # calls decided (not setup)
        self._look_factory = look
        self._looks: dict[tuple[str, str | None], EmulatorLook] = {}
        self._policies: dict[tuple, list[dict[str, dict]]] = {}
        self._findings: list[Finding] = []
        self._lock = threading.Lock()

    def reset(self, stage: str | None = None) -> None:
        """A new test or drill: forget the policies read from the emulator and the findings."""
        with self._lock:
            self._policies.clear()
            self._looks.clear()
            self._findings.clear()
            self.stage = stage or self.stage

    def drain(self) -> list[Finding]:
        with self._lock:
            found, self._findings = self._findings, []
            return found

    def _look(self, region: str, endpoint: str | None) -> EmulatorLook:
        key = (region, endpoint)
        with self._lock:
            if key not in self._looks:
                self._looks[key] = self._look_factory(region, endpoint)
            return self._looks[key]

    def on_call(self, service: str, operation: str, params: Mapping, region: str, user_agent: str = "",
                endpoint: str = "", in_process: bool = False) -> None:
        """One API call about to be sent to ``endpoint`` (its client's endpoint URL); ``in_process``: in-process
        moto (mock_aws) answers it, wherever the endpoint points."""
        if not self.active:
            return
        if (service, operation) in POLICY_WRITES:
            with self._lock:
                self._policies.clear()
        frames = callers.project_frames(2)
        principal = callers.classify(frames, user_agent, callers.is_unrecorded())
        if principal == callers.SETUP:
            return
        self.calls += 1
        call = Call(service, operation, params, region)
        try:
            if not loopback(endpoint) and not in_process:
                raise NotModelled(f"call to {endpoint}: the recorder reads only a loopback emulator or in-process moto")
            verdict = self.decide(principal, call, self._look(region, endpoint if loopback(endpoint) else None))
        except NotModelled as err:
            verdict = f"not modelled: {err}"
        except Exception as err:   # noqa: BLE001 - a recorder fault is reported, never raised into the call
            verdict = f"recorder error: {type(err).__name__}: {err}"
        if verdict:
            with self._lock:
                self._findings.append(Finding(principal, f"{service}.{operation}", verdict,
                                              callers.calling_frame(frames)))

    def decide(self, principal: str, call: Call, look: EmulatorLook) -> str:
        """"" when every request of ``call`` is allowed under one of the principal's policy sets; else why not."""
        requests = [dataclasses.replace(r, context={"aws:RequestedRegion": call.region, **r.context})
                    for r in requests_for(call, look)]
        sets = self.policy_sets(principal, look)
        if not sets:
            return f"no {principal} policy found in the emulator for region {call.region}"
        first_denial = ""
        for policies in sets:
            denials = [d.reason for d in (evaluate(policies, r) for r in requests) if not d.allowed]
            if not denials:
                return ""
            first_denial = first_denial or f"denied under {sorted(policies)}: " + " | ".join(denials)
        if principal == callers.OPERATOR and look.adoptable_vpc_exists():
            adopt = {**sets[0], "iam-policy-operator-adopt": operator_policy("iam-policy-operator-adopt")}
            denials = [d.reason for d in (evaluate(adopt, r) for r in requests) if not d.allowed]
            if not denials:
                return ""
            first_denial = f"denied under {sorted(adopt)}: " + " | ".join(denials)
        return first_denial

    def policy_sets(self, principal: str, look: EmulatorLook) -> list[dict[str, dict]]:
        key = (principal, look.region, look.endpoint)
        with self._lock:
            if key in self._policies:
                return self._policies[key]
        sets = self._read_policy_sets(principal, look)
        with self._lock:
            self._policies[key] = sets
        return sets

    def _read_policy_sets(self, principal: str, look: EmulatorLook) -> list[dict[str, dict]]:
        if principal == callers.OPERATOR:
            return [{"iam-policy-operator": operator_policy("iam-policy-operator")}]
        kind = "probe" if principal == callers.PROBE else "controller"
        deployed = look.controller_role_policies(kind)
        if deployed:
            return [{role: doc} for role, doc in deployed.items()]
        make = probe_policy if kind == "probe" else controller_policy
        return [{f"{kind}-policy({t.stack}, {self.stage})": make(_with_topic(t), self.stage)}
                for t in look.topologies() if t.region == look.region]


def _with_topic(topology):
    """The tests' stacks may record no topic; ``hanat up`` always makes one (its ARN names the account)."""
    if topology.topic_arn:
        return topology
    return dataclasses.replace(topology, topic_arn=f"arn:aws:sns:{topology.region}:{ACCOUNT}:"
                                                   f"{topic_name(topology.stack)}")


RECORDER = Recorder()
