"""One sweep's probes: every zone at once, each failure confirmed within the same sweep.

Each probe function probes its path up to ``samples`` times in one invoke (probes/samples.py): a
failed sample is confirmed at once, and a sample that goes half its timeout without an answer has its
confirmation started alongside, so a blackholed NAT is confirmed after ``timeout x (1 + (fail_after -
1) / 2)`` — 3 s at the defaults, not ``fail_after`` intervals — in the same execution environment, and
a path that answers costs one round. A zone's samples are its result and the confirmations it carries.

When the probe functions could not take every sample (``fail_after`` above what fits one invoke, or a
runner that answers one sample per zone: tests' scripted probes, the bench's local runner), the zones
whose samples all failed are probed again at once (together), up to ``probe.fail_after`` samples in
the sweep. When every zone that gave evidence failed, the control probe runs; if the targets answer
it, the zones' own confirmations (taken before it) do not count and each zone is re-probed after it (the
targets may have come back meanwhile). No re-probe when the targets are down (the control probe failed too), for zones already DOWN (``known_down()``, asked only when a probe
failed), for a result without evidence (no storm of invokes while Lambda throttles), or when the
round would not fit before ``deps.deadline``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

from ..aws.lambda_invoke import PROBE_WAIT_MARGIN_S
from ..errors import InputError
from ..probes.results import ProbeResult
from ..topology import Topology
from .deps import Deps

# Time a probe round may take on top of the probe's own samples (the probe function's cold start, the
# invoke): the LambdaProbeRunner's margin; the probe function's Lambda timeout is ceil(chain) + 3 s.
PROBE_ROUND_MARGIN_S = PROBE_WAIT_MARGIN_S
# deciding, claiming, writing and verifying routes after the probes (a planned move, a revert, also
# waits for the NATs' agents: with less than reconcile.HANDOFF_WRITE_S left it is left to the next sweep)
WRITE_RESERVE_S = 3.0


def probe_round_s(topology: Topology) -> float:
    """The longest one probe round (every zone at once, each with its samples) may take."""
    return topology.probe.chain_s + PROBE_ROUND_MARGIN_S


def sweep_reserve_s(topology: Topology) -> float:
    """Time a sweep needs: one probe round, then the route writes (re-probes only run when they fit)."""
    return probe_round_s(topology) + WRITE_RESERVE_S


@dataclass
class Probed:
    """One sweep's probe results: per zone, the probe and its confirmations, in the order started.
    ``first``, ``confirmations`` and ``hedged`` are derived from ``samples`` when made (``probed()``)."""

    samples: dict[str, list[ProbeResult]]
    control: ProbeResult | None = None
    first: dict[str, ProbeResult] = field(default_factory=dict)   # per zone, its first sample
    confirmations: dict[str, tuple[ProbeResult, ...]] = field(default_factory=dict)   # the samples after it
    # per zone, the confirmations started while the sample before them still waited (zones with any)
    hedged: dict[str, int] = field(default_factory=dict)


def probed(samples: dict[str, list[ProbeResult]], control: ProbeResult | None = None) -> Probed:
    """A sweep's ``Probed`` from its samples, the derived views filled in."""
    counts = {az: sum(1 for r in results if r.hedged) for az, results in samples.items()}
    return Probed(samples, control, first={az: results[0] for az, results in samples.items()},
                  confirmations={az: tuple(results[1:]) for az, results in samples.items() if len(results) > 1},
                  hedged={az: n for az, n in counts.items() if n})


def _run_probes(deps: Deps, azs: Sequence[str]) -> dict[str, list[ProbeResult]]:
    """One round: ``azs`` probed in one (parallel) call, each zone's samples flattened (the result, then
    the confirmations it carries); a zone the runner gave no answer for has no evidence."""
    if deps.probe_runner is None:
        raise InputError("no probe runner configured for the sweep")
    results = dict(deps.probe_runner(list(azs)))
    now = deps.clock()
    return {az: [replace(s, confirmations=()) for s in (results[az], *results[az].confirmations)] if az in results
            else [ProbeResult.no_evidence(az, now, "no result from probe")] for az in azs}


def _time_for_round(deps: Deps) -> bool:
    return deps.deadline is None or deps.deadline - time.monotonic() >= sweep_reserve_s(deps.topology)


def _failed(result: ProbeResult) -> bool:
    """``ProbeResult.failed`` read as plain fields: the probe ran and no target answered."""
    return result.evidence and not result.passed


def _unconfirmed(samples: list[ProbeResult]) -> bool:
    """Every sample so far failed (with evidence): the zone wants another one."""
    return all(_failed(s) for s in samples)


def probe_zones(deps: Deps, *, known_down: Callable[[], Collection[str]] = tuple) -> Probed:
    """Probe every zone, run the control probe when every zone that gave evidence failed, then
    re-probe as the module says; each zone's samples in order, at most ``fail_after``."""
    topo = deps.topology
    azs, limit = topo.azs, int(topo.probe.fail_after)
    samples = {az: found[:limit] for az, found in _run_probes(deps, azs).items()}
    evidence = [s[0] for s in samples.values() if s[0].evidence]
    control = None
    if deps.control_probe is not None and evidence and not any(r.passed for r in evidence):
        control = deps.control_probe()
    if control is not None:
        samples = {az: s[:1] for az, s in samples.items()}
        if not control.passed:
            return probed(samples, control)
        # every path failed but the targets answer the control probe, which ran after the paths'
        # confirmations: the targets may have just come back, so a zone is confirmed only by re-probes
    down: Collection[str] = known_down() if any(_failed(s[0]) for s in samples.values()) else ()
    while True:
        failing = [az for az in azs if az not in down and len(samples[az]) < limit
                   and _unconfirmed(samples[az])]
        if not failing or not _time_for_round(deps):
            break
        for az, found in _run_probes(deps, failing).items():
            samples[az] = (samples[az] + found)[:limit]
    return probed(samples, control)
