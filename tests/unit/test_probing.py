"""A probe and its confirmations (probes/samples.py, in the probe function) and one sweep's probes
(service/probing.py): a failure is confirmed in the same invoke, and a sample that goes half its
timeout unanswered has its confirmation started alongside, so a dead NAT costs about 1.5 timeouts at
fail_after 2 instead of 2; a path that answers is probed once.

The scripted checks answer by the order of events, not the machine's speed: a "slow" sample answers
once the next sample has started (or at its timeout when none does), a "hang" one only at its timeout."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from chalicelib.errors import InputError
from chalicelib.probes.handler import validate_probe_event
from chalicelib.probes.results import ProbeResult
from chalicelib.probes.samples import run_samples
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.probing import probe_zones
from chalicelib.settings import MAX_CHAIN_S, ProbeSettings, chain_s, samples_for
from chalicelib.topology import Topology, ZoneTopology

A, B = "ap-northeast-1a", "ap-northeast-1c"
TIMEOUT_S = 0.4


class ScriptedChecks:
    """``check`` for run_samples: the verdicts of its calls in order (default "pass")."""

    def __init__(self, script: list[str]):
        self.script = list(script)
        self.calls = 0
        self._started: list[threading.Event] = []
        self._lock = threading.Lock()

    def __call__(self, zone, targets, timeout_s, clock) -> ProbeResult:
        with self._lock:
            i = self.calls
            self.calls += 1
            step = self.script[i] if i < len(self.script) else "pass"
            next_started = threading.Event()
            self._started.append(next_started)
            if i > 0:
                self._started[i - 1].set()       # this sample started: the one before may answer now
        if step.startswith("slow"):
            next_started.wait(timeout_s)
        elif step.startswith("hang"):
            time.sleep(timeout_s)
        return ProbeResult(zone=zone, passed=step.endswith("pass"), at=float(i))


def _verdicts(results) -> list[str]:
    return ["blind" if not r.evidence else ("pass" if r.passed else "fail") for r in results]


# id: (samples asked, script, verdicts of result + confirmations, which were hedged, checks run)
CHAINS = {
    "a-path-that-answers-is-probed-once": (2, ["pass"], ["pass"], [False], 1),
    "a-slow-answer-still-passes": (2, ["slow-pass", "slow-pass"], ["pass"], [False], 2),
    "a-dead-path-is-confirmed-by-a-hedge": (2, ["slow-fail", "slow-fail"], ["fail", "fail"], [False, True], 2),
    "a-hedge-that-passes-first-ends-the-probe": (2, ["hang-fail", "pass"], ["pass"], [True], 2),
    "a-quick-failure-is-confirmed-at-once": (2, ["fail", "fail"], ["fail", "fail"], [False, False], 2),
    "a-failure-whose-confirmation-passes": (2, ["fail", "pass"], ["fail", "pass"], [False, False], 2),
    "three-samples-two-hedges": (3, ["slow-fail"] * 3, ["fail"] * 3, [False, True, True], 3),
    "one-sample-is-never-confirmed": (1, ["slow-fail"], ["fail"], [False], 1),
}


@pytest.mark.parametrize("case", CHAINS, ids=list(CHAINS))
def test_a_probe_chains_its_samples(case):
    samples, script, verdicts, hedged, calls = CHAINS[case]
    check = ScriptedChecks(script)
    result = run_samples(A, ["tcp://198.51.100.11:80"], TIMEOUT_S, samples, time.time, check=check)
    assert _verdicts(result.samples) == verdicts
    assert [r.hedged for r in result.samples] == hedged
    assert check.calls == calls
    assert ProbeResult.from_dict(result.to_dict()) == result      # the answer crosses the invoke intact


# id: (timeout_s, fail_after, samples one invoke takes)
SAMPLES_FOR = {
    "defaults": (2, 2, 2),
    "fail-after-5": (2, 5, 5),
    "the-longest-timeout-fits-one-confirmation": (25, 3, 2),
    "never-more-than-ten": (0.5, 40, 10),
    "fail-after-1": (2, 1, 1),
}


@pytest.mark.parametrize("case", SAMPLES_FOR, ids=list(SAMPLES_FOR))
def test_samples_for_fits_one_invoke(case):
    timeout_s, fail_after, expected = SAMPLES_FOR[case]
    assert samples_for(timeout_s, fail_after) == expected
    assert chain_s(timeout_s, expected) <= MAX_CHAIN_S


def test_the_defaults_confirm_a_dead_path_in_one_and_a_half_timeouts():
    assert chain_s(2, 2) == 3.0


@pytest.mark.parametrize("event, needle", [
    ({"targets": ["tcp://198.51.100.11:80"], "samples": 0}, "samples must be a whole number from 1 to 10, got 0"),
    ({"targets": ["tcp://198.51.100.11:80"], "samples": True}, "got True"),
    ({"targets": ["tcp://198.51.100.11:80"], "samples": 3, "timeout_s": 25}, "more than the 37.5s"),
], ids=["zero", "bool", "too-long-a-chain"])
def test_a_bad_samples_value_is_named(event, needle):
    with pytest.raises(InputError) as caught:
        validate_probe_event(event, ProbeSettings())
    assert needle in str(caught.value.problems)


# --- the sweep's side --------------------------------------------------------------------------
def _zone(az: str, n: int) -> ZoneTopology:
    return ZoneTopology(az=az, public_subnet_id=f"subnet-pub{n}", private_subnet_id=f"subnet-prv{n}",
                        probe_subnet_id=f"subnet-prb{n}", nat_instance_id=f"i-0nat{n}",
                        nat_eni_id=f"eni-{n}", nat_eip=f"203.0.113.{n}", nat_eip_allocation_id=f"eipalloc-{n}",
                        private_route_table_ids=(f"rtb-p{n}",), probe_route_table_id=f"rtb-probe{n}")


def _deps(runner, *, fail_after: int = 2, control: ProbeResult | None = None) -> Deps:
    topo = Topology(stack="demo", region="ap-northeast-1", vpc_id="vpc-1", vpc_cidr="10.0.0.0/16", table_name="t",
                    topic_arn="", topology_parameter="/hanat/demo/topology", zones=(_zone(A, 1), _zone(B, 2)),
                    probe=ProbeSettings(fail_after=fail_after))
    return Deps(topology=topo, clients=Clients(ec2=None, dynamodb=None), probe_runner=runner,
                control_probe=None if control is None else (lambda: control), clock=lambda: 0.0)


class Rounds:
    """A ProbeRunner answering each call from a script: per zone, the samples of its next answers
    (e.g. ["fail", "fail"]: a result with one confirmation); default one passing sample."""

    def __init__(self, script: dict[str, list[list[str]]]):
        self.script = {az: list(answers) for az, answers in script.items()}
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, azs):
        self.calls.append(tuple(azs))
        out = {}
        for az in azs:
            verdicts = self.script[az].pop(0) if self.script.get(az) else ["pass"]
            samples = [ProbeResult.no_evidence(az, 0.0, "invoke failed") if v == "blind"
                       else ProbeResult(zone=az, passed=v == "pass", at=0.0) for v in verdicts]
            out[az] = replace(samples[0], confirmations=tuple(samples[1:]))
        return out


# id: (fail_after, answers for zone A, A's samples in the sweep, runner calls)
SWEEPS = {
    "confirmed-inside-the-invoke-no-re-probe": (2, [["fail", "fail"]], ["fail", "fail"], [(A, B)]),
    "a-runner-of-one-sample-is-re-probed": (2, [["fail"], ["fail"]], ["fail", "fail"], [(A, B), (A,)]),
    "fail-after-beyond-one-invoke-is-filled-by-re-probes": (4, [["fail", "fail"], ["fail", "fail"]],
                                                             ["fail"] * 4, [(A, B), (A,)]),
    "a-passing-confirmation-ends-it": (2, [["fail", "pass"]], ["fail", "pass"], [(A, B)]),
    "no-evidence-is-not-re-probed": (2, [["blind"]], ["blind"], [(A, B)]),
    "never-more-than-fail-after": (2, [["fail", "fail", "fail"]], ["fail", "fail"], [(A, B)]),
}


@pytest.mark.parametrize("case", SWEEPS, ids=list(SWEEPS))
def test_a_sweep_counts_each_zones_samples(case):
    fail_after, answers, expected, calls = SWEEPS[case]
    runner = Rounds({A: answers})
    probed = probe_zones(_deps(runner, fail_after=fail_after))
    assert _verdicts(probed.samples[A]) == expected and _verdicts(probed.samples[B]) == ["pass"]
    assert runner.calls == calls


def test_a_zone_already_down_is_not_re_probed():
    runner = Rounds({A: [["fail"]]})
    probed = probe_zones(_deps(runner), known_down=lambda: {A})
    assert _verdicts(probed.samples[A]) == ["fail"] and runner.calls == [(A, B)]


def test_targets_down_every_path_and_the_control_probe_fail_nothing_is_confirmed():
    runner = Rounds({A: [["fail", "fail"]], B: [["fail", "fail"]]})
    control = ProbeResult(zone="control", passed=False, at=0.0)
    probed = probe_zones(_deps(runner, control=control))
    assert probed.control is control and runner.calls == [(A, B)]
    assert {az: _verdicts(s) for az, s in probed.samples.items()} == {A: ["fail"], B: ["fail"]}


def test_targets_back_by_the_control_probe_only_re_probes_after_it_confirm():
    """targets-down drill: every path failed with its confirmation, then the targets came back before the
    control probe ran: the confirmations taken before it must not make every zone DOWN."""
    runner = Rounds({A: [["fail", "fail"], ["pass"]], B: [["fail", "fail"], ["pass"]]})
    probed = probe_zones(_deps(runner, control=ProbeResult(zone="control", passed=True, at=0.0)))
    assert {az: _verdicts(s) for az, s in probed.samples.items()} == {A: ["fail", "pass"], B: ["fail", "pass"]}
    assert runner.calls == [(A, B), (A, B)]


def test_no_re_probe_when_it_would_not_fit_before_the_deadline():
    runner = Rounds({A: [["fail"]]})
    probed = probe_zones(replace(_deps(runner), deadline=time.monotonic() + 1.0))
    assert _verdicts(probed.samples[A]) == ["fail"] and runner.calls == [(A, B)]


def test_the_hedged_samples_are_counted_per_zone():
    hedged = ProbeResult(zone=A, passed=False, at=0.0, hedged=True)
    runner = lambda azs: {A: replace(ProbeResult(zone=A, passed=False, at=0.0), confirmations=(hedged,)),
                          B: ProbeResult(zone=B, passed=True, at=0.0)}
    assert probe_zones(_deps(runner)).hedged == {A: 1}
