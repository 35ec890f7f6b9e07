"""The conntrack-full drill's table limit, run in a NAT's namespace: new forwarded flows from ``--sources``
(not from ``--except``) are dropped while the namespace's conntrack count is at ``--limit``.

Why emulated: the kernel drops a new flow when the namespace's conntrack count exceeds
``net.netfilter.nf_conntrack_max`` (``__nf_conntrack_alloc``, after trying ``early_drop``), but that limit
is the initial namespace's alone: read-only in a NAT's namespace (Linux 6.18: EACCES; setup-nat.sh warns
about it), and lowering it would shrink every namespace on the host. So this applies the kernel's rule to the
namespace's real count (``/proc/sys/net/netfilter/nf_conntrack_count``, per namespace) every 50 ms, as an
nftables table of its own (``hanat_fault_conntrack``, before setup-nat.sh's forward chain): present
while the count is at the limit, absent below it. The NAT still tracks and forwards every flow it
admitted; entries that expire make room for new ones, as in a full table.

    python -m lab.dataplane.netns.conntrack_limit --limit 120 --sources 10.0.0.0/16 --except 10.0.255.0/28

Prints "ready" once watching; on SIGTERM removes its table and exits.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

TABLE = "hanat_fault_conntrack"
COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
POLL_S = 0.05


def ruleset(full: bool, sources: str, exempt: str) -> str:
    reset = f"table inet {TABLE}\ndelete table inet {TABLE}\n"
    if not full:
        return reset
    skip = f"ip saddr != {{ {exempt} }} " if exempt else ""
    return reset + (f"table inet {TABLE} {{\n"
                    "    chain forward {\n"
                    "        type filter hook forward priority filter - 10; policy accept;\n"
                    f"        ct state new ip saddr {{ {sources} }} {skip}counter drop\n"
                    "    }\n"
                    "}\n")


def _load(text: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.dataplane.netns.conntrack_limit")
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--sources", required=True, help="comma-separated CIDRs whose new flows count")
    parser.add_argument("--except", dest="exempt", default="", help="comma-separated CIDRs never dropped")
    args = parser.parse_args(argv)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    full = False
    _load(ruleset(False, args.sources, args.exempt))
    print("ready", flush=True)
    try:
        while not stop:
            with open(COUNT) as fh:
                now_full = int(fh.read()) >= args.limit
            if now_full != full:
                _load(ruleset(now_full, args.sources, args.exempt))
                full = now_full
            time.sleep(POLL_S)
    finally:
        _load(ruleset(False, args.sources, args.exempt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
