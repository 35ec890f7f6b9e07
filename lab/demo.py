"""``make demo``: every drill against the local lab, a summary and a plot (drill.png).

The same as ``hanat lab drill --scenario all --plot drill.png``: a moto server on 127.0.0.1, the
stack built by ``hanat up``'s code, the controller deployed with ``chalice deploy`` and run on the
lab's clock, the netns data plane when root (else the computed one), clients in every private subnet.
Extra arguments are passed on, e.g. ``python -m lab.demo --dataplane computed --flaky-s 10``.
Nothing leaves the machine; every namespace and process is removed at the end, also on Ctrl-C.
"""
from __future__ import annotations

import sys

from lab.cli import main as lab_main

DEMO_ARGS = ["drill", "--scenario", "all", "--plot", "drill.png"]


def main(argv: list[str] | None = None) -> None:
    lab_main(DEMO_ARGS + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
