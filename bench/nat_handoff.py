"""Figures of the NAT's reset and handoff on the lab data plane (root; namespaces only, nothing leaves).

    .venv/bin/python -m bench.nat_handoff [--trials N]

Prints: how long an orphaned flow waits for its reset after its route moved to a NAT that never saw
it; the round trip of a flow through its own NAT and through the handoff tunnel (new NAT -> VXLAN ->
old NAT); how long the agents take to apply and to remove a handoff once the tags change (IMDS
stand-in, agent polling every second). Uses the lab test helpers (tests/lab/test_nat_handoff.py).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from lab.dataplane.netns.shell import nft, python_argv, stop_process, sysctl
from tests.lab import test_nat_handoff as t


def summary(name: str, values: list[float]) -> str:
    v = sorted(values)
    return f"{name}: n={len(v)} min={v[0]:.2f} median={statistics.median(v):.2f} max={v[-1]:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args(argv)
    plane = t.Namespaces(t.two_zone_spec())
    try:
        plane.up()
        sysctl(plane.ns("inet"), "net.netfilter.nf_conntrack_tcp_loose", 0)
        nft(plane.ns("inet"), t.STATEFUL_SERVER)
        server = plane.popen("inet", python_argv("tests.lab.natflow", "server", "--port", str(t.PORT)),
                             stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        base = plane.spec

        def fresh_flow() -> t.Flow:
            plane.sync(base)
            flow = t.Flow(plane, t.A)
            assert flow.send()["you"] == t.ADDR[t.A]
            return flow

        reset = []
        for _ in range(args.trials):
            flow = fresh_flow()
            plane.sync(t.move_zone_a_to_b(base))
            answer = flow.send()
            assert answer["error"] == "ConnectionResetError", answer
            reset.append(answer["ms"])
            stop_process(flow.proc)
        direct, tunnelled, applied, removed = [], [], [], []
        for _ in range(max(1, args.trials // 4)):
            flow = fresh_flow()
            direct += [flow.send()["ms"] for _ in range(10)]
            tagged = t.handoff(base, until=int(time.time()) + 600)
            start = time.monotonic()
            plane.sync(tagged)
            assert t.wait_for(lambda: t.handoff_applied(plane), interval_s=0.02)
            applied.append((time.monotonic() - start) * 1000)
            plane.sync(t.move_zone_a_to_b(tagged))
            for _ in range(10):
                answer = flow.send()
                assert answer["ok"] and answer["you"] == t.ADDR[t.A], answer
                tunnelled.append(answer["ms"])
            start = time.monotonic()
            plane.sync(t.move_zone_a_to_b(base))
            assert t.wait_for(lambda: t.handoff_gone(plane), interval_s=0.02)
            removed.append((time.monotonic() - start) * 1000)
            stop_process(flow.proc)
        print(summary("orphaned flow: send -> TCP reset (route moved to a NAT that never saw it)", reset))
        print(summary("round trip through its own NAT", direct))
        print(summary("round trip handed off (new NAT -> VXLAN -> old NAT)", tunnelled))
        print(summary("tags written -> handoff in both NATs' kernels", applied))
        print(summary("tags removed -> handoff gone, resets again", removed))
    finally:
        plane.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
