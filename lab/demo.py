"""``make demo``: every drill against the local lab, a summary table and a plot (drill.png).

Equivalent to ``hanat lab drill --scenario all --plot drill.png``: the emulator, the stack built by
``hanat up``'s code, the controller deployed with ``chalice deploy`` and run on the lab's clock, the
netns data plane when root (else the model). Extra arguments are passed on (e.g. ``--dataplane model``).
"""
from __future__ import annotations

import sys

from controller.cli import main as hanat

DEMO_ARGS = ["lab", "drill", "--scenario", "all", "--plot", "drill.png"]


def main(argv: list[str] | None = None) -> None:
    hanat(DEMO_ARGS + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
