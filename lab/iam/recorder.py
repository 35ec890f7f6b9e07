"""Record every AWS call hanat makes and decide it under its caller's IAM policies; keep what IAM denies.

``Recorder.on_call`` is given each API call (by a botocore hook the tests install: tests/support/
iam_recording.py). The caller (lab.iam.callers) picks the policies, as on AWS:
- operator: examples/iam-policy-operator.json as shipped, plus examples/iam-policy-operator-adopt.json
  when the region holds a VPC hanat did not build (the operator adopting it attached both);
- controller / probe: the inline policies of the roles ``hanat deploy`` wrote into the emulator
  (bootstrap/deploy/roles.py), or, when nothing was deployed, what it would write for each stack whose
  topology the emulator holds (bootstrap.deploy.policy.controller_policy / probe_policy);
- setup: not decided.
Every set also holds the policy files ``HANAT_LAB_IAM_POLICY`` names (``EXTRA_POLICY_ENV``: an operator's
own Deny statements, e.g. an organization's, to rehearse the drills under them).
A call is a finding when any of its requests is denied under every candidate policy set, or when the
request model or the evaluator does not model it (NotModelled). Python subprocesses (``chalice deploy``,
``hanat`` run as its own process) append theirs to ``child_log`` (lab/iam/child/sitecustomize.py): they are
taken in with this process's own by ``drain``, ``begin`` and ``end``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bootstrap.deploy.policy import RESOLVE_SSM, controller_policy, probe_policy
from chalicelib.errors import HanatError, InputError
from chalicelib.naming import topic_name

from . import callers
from .errors import NotModelled
from .evaluate import evaluate
from .lookups import EmulatorLook, loopback
from .requests import ACCOUNT, Call, requests_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXTRA_POLICY_ENV = "HANAT_LAB_IAM_POLICY"     # policy files (os.pathsep-separated) added to every caller's set
DEFAULT_STAGE = "dev"
# writes that change which policies apply: the cached policy sets are read again after them
POLICY_WRITES = {("ssm", "PutParameter"), ("ssm", "DeleteParameter"), ("iam", "PutRolePolicy"),
                 ("iam", "DeleteRolePolicy"), ("iam", "DeleteRole")}


def operator_policy(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def extra_policies() -> dict[str, dict]:
    """The policy documents ``HANAT_LAB_IAM_POLICY`` names, by "extra:<file name>"; InputError naming a file
    that cannot be read or is not a policy document."""
    found = {}
    for path in filter(None, os.environ.get(EXTRA_POLICY_ENV, "").split(os.pathsep)):
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"{EXTRA_POLICY_ENV}: {path}: {err}") from err
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise InputError(f"{EXTRA_POLICY_ENV}: {path} is not an IAM policy document (no Statement)")
        found[f"extra:{Path(path).name}"] = doc
    return found


def policies_checked() -> str:
    """Which policies decide whose calls, in one sentence (what a drill says once)."""
    extra = sorted(extra_policies())
    return ("IAM: every AWS call is decided by lab/iam: the operator's under examples/iam-policy-operator.json "
            "(+ iam-policy-operator-adopt.json in an adopted VPC), the functions' under the role policies "
            "`hanat deploy` writes" + (f", each also under {', '.join(extra)} ({EXTRA_POLICY_ENV})" if extra else "")
            + "; a denied or unmodelled call fails the drill")


@dataclass(frozen=True)
class Finding:
    principal: str
    call: str            # "ec2.RunInstances"
    verdict: str         # the evaluator's reason, or "not modelled: ..."
    frame: str           # the calling frame (file:function)

    def __str__(self) -> str:
        return f"[{self.principal}] {self.call} from {self.frame}: {self.verdict}"

    def to_line(self) -> str:
        return json.dumps(dataclasses.asdict(self)) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Finding:
        """A subprocess's finding (``to_line``), its frame marked as the subprocess's."""
        fields = json.loads(line)
        return cls(**{**fields, "frame": f"(subprocess) {fields['frame']}"})


class Recorder:
    """Decides the calls given to ``on_call`` while ``active``; ``drain()`` hands back the findings."""

    def __init__(self, stage: str = DEFAULT_STAGE, look: Callable[..., EmulatorLook] = EmulatorLook):
        self.stage = stage
        self.active = False
        self.no_frame_principal = callers.SETUP    # OPERATOR in the `chalice deploy` hanat deploy runs
        self.installed = False      # a hook gives this process's calls to on_call (tests/support/iam_recording.py)
        self.calls = 0              # calls decided (not setup)
        self._look_factory = look
        self._looks: dict[tuple[str, str | None], EmulatorLook] = {}
        self._policies: dict[tuple, list[dict[str, dict]]] = {}
        self._findings: list[Finding] = []
        self._launched_eni_tags: dict[str, dict[str, str]] = {}   # see EmulatorLook.ec2_tags
        self.child_log: str | None = None    # subprocesses' findings (lab/iam/hook.py child_processes)
        self._child_read = 0                 # how far child_log has been taken in
        self._lock = threading.Lock()

    def reset(self, stage: str | None = None) -> None:
        """A new test or drill: forget the policies read from the emulator and the findings."""
        with self._lock:
            self._policies.clear()      # the out-of-band clients (_looks) are kept: each costs ~0.1 s to make
            self._findings.clear()
            self._launched_eni_tags.clear()
            self.stage = stage or self.stage

    def drain(self) -> list[Finding]:
        with self._lock:
            self._findings += self._take_children()
            found, self._findings = self._findings, []
            return found

    def swap_child_log(self, path: str | None, read: int = 0) -> tuple[str | None, int]:
        """Take subprocesses' findings from ``path`` (from byte ``read`` on) from now on, what the current log
        holds taken in first; returns the log and position to restore."""
        with self._lock:
            self._findings += self._take_children()
            saved = (self.child_log, self._child_read)
            self.child_log, self._child_read = path, read
        return saved

    def _take_children(self) -> list[Finding]:
        """The findings subprocesses appended to ``child_log`` since the last look (whole lines only)."""
        if not self.child_log or not os.path.exists(self.child_log):
            return []
        with open(self.child_log, encoding="utf-8") as log:
            log.seek(self._child_read)
            text = log.read()
        done = text.rfind("\n") + 1
        self._child_read += len(text[:done].encode("utf-8"))
        return [Finding.from_line(line) for line in text[:done].splitlines() if line.strip()]

    def begin(self, stage: str | None = None) -> tuple | None:
        """Start deciding for a drill (None when no hook is installed: nothing is recorded); ``end`` hands back
        its findings and restores what ran before (a test's own recording)."""
        if not self.installed:
            return None
        with self._lock:
            saved = (self.active, self.stage, self._findings + self._take_children())
            self._findings, self.active, self.stage = [], True, stage or self.stage
            self._policies.clear()
        return saved

    def end(self, token: tuple | None) -> list[Finding] | None:
        if token is None:
            return None
        with self._lock:
            found = self._findings + self._take_children()
            self.active, self.stage, self._findings = token
        return found

    def _look(self, region: str, endpoint: str | None) -> EmulatorLook:
        key = (region, endpoint)
        with self._lock:
            if key not in self._looks:
                self._looks[key] = self._look_factory(region, endpoint, self._launched_eni_tags)
            return self._looks[key]

    def on_call(self, service: str, operation: str, params: Mapping, region: str, user_agent: str = "",
                endpoint: str = "", in_process: bool = False, frames: list[str] | None = None) -> None:
        """One API call about to be sent to ``endpoint`` (its client's endpoint URL); ``in_process``: in-process
        moto (mock_aws) answers it, wherever the endpoint points; ``frames``: the caller's (default: the stack's)."""
        if not self.active:
            return
        if (service, operation) in POLICY_WRITES:
            with self._lock:
                self._policies.clear()
        frames = callers.project_frames(2) if frames is None else frames
        principal = callers.classify(frames, user_agent, callers.is_unrecorded(), self.no_frame_principal)
        if principal == callers.SETUP:
            return
        self.calls += 1
        call = Call(service, operation, params, region)
        try:
            if not loopback(endpoint) and not in_process:
                raise NotModelled(f"call to {endpoint}: the recorder reads only a loopback emulator or in-process moto")
            verdict = self.decide(principal, call, self._look(region, _emulator(endpoint)))
        except NotModelled as err:
            verdict = f"not modelled: {err}"
        except Exception as err:   # noqa: BLE001 - a recorder fault is reported, never raised into the call
            verdict = f"recorder error: {type(err).__name__}: {err}"
        if verdict:
            with self._lock:
                self._findings.append(Finding(principal, f"{service}.{operation}", verdict,
                                              callers.calling_frame(frames)))

    def on_result(self, service: str, operation: str, params: Mapping, result: Mapping) -> None:
        """A call's answer: the interfaces a RunInstances created carry the tags it asked for them."""
        if not self.active or (service, operation) != ("ec2", "RunInstances"):
            return
        tags = {t["Key"]: t.get("Value", "") for spec in params.get("TagSpecifications", ())
                if spec.get("ResourceType") == "network-interface" for t in spec.get("Tags", ())}
        if not tags:
            return
        with self._lock:
            for instance in result.get("Instances", ()):
                for interface in instance.get("NetworkInterfaces", ()):
                    self._launched_eni_tags[interface["NetworkInterfaceId"]] = tags

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
            adopt.update(extra_policies())
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
        extra = extra_policies()
        return [{**policies, **extra} for policies in self._own_policy_sets(principal, look)]

    def _own_policy_sets(self, principal: str, look: EmulatorLook) -> list[dict[str, dict]]:
        if principal == callers.OPERATOR:
            return [{"iam-policy-operator": operator_policy("iam-policy-operator")}]
        kind = "probe" if principal == callers.PROBE else "controller"
        deployed = look.controller_role_policies(kind)
        sets = []
        for t in (t for t in look.topologies() if t.region == look.region):
            # the roles `hanat deploy` wrote for this stack (its policy names the stack's table or topology
            # parameter), else what it would write
            own = {role: doc for role, doc in deployed.items()
                   if f"table/{t.table_name}" in json.dumps(doc) or t.topology_parameter in json.dumps(doc)}
            if own:
                sets += [{role: doc} for role, doc in own.items()]
            elif kind == "probe":
                sets.append({f"probe-policy({t.stack}, {self.stage})": probe_policy(_with_topic(t), self.stage)})
            else:
                sets.append({f"controller-policy({t.stack}, {self.stage})": controller_policy(
                    _with_topic(t), self.stage, nat_ami=_nat_ami(look, t))})
        return sets


def _emulator(endpoint: str) -> str | None:
    """Where the out-of-band reads go: the emulator the process points at (AWS_ENDPOINT_URL), not a
    service's own endpoint (the lab's Lambda Invoke endpoint answers Invoke only); None: in-process moto."""
    general = os.environ.get("AWS_ENDPOINT_URL", "")
    if loopback(general):
        return general
    return endpoint if loopback(endpoint) else None


def _nat_ami(look: EmulatorLook, topology) -> str:
    """The config's ``nat.ami`` that `hanat deploy` gives controller_policy: a ``resolve:ssm:`` alias is what
    `hanat up` put in the stack's launch template (an AMI id there: the policy does not depend on it)."""
    if not topology.launch_template_id:
        return ""
    try:
        image = look.launch_template({"LaunchTemplateId": topology.launch_template_id})[1].get("ImageId", "")
    except HanatError:
        return ""
    return image if image.startswith(RESOLVE_SSM) else ""


def _with_topic(topology):
    """The tests' stacks may record no topic; ``hanat up`` always makes one (its ARN names the account)."""
    if topology.topic_arn:
        return topology
    return dataclasses.replace(topology, topic_arn=f"arn:aws:sns:{topology.region}:{ACCOUNT}:"
                                                   f"{topic_name(topology.stack)}")


RECORDER = Recorder()
