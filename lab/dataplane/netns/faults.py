"""Fault rulesets: each fault is an nftables table of its own, so adding or removing it never
touches the NAT's own ``hanat_nat`` table (or another fault). Pure text builders; ``Namespaces``
loads them. Every ruleset deletes its table first, so applying one twice changes nothing and
``on=False`` simply removes it.
"""
from __future__ import annotations

from collections.abc import Iterable

from chalicelib.errors import InputError

BLACKHOLE_TABLE = "hanat_fault_blackhole"     # in a NAT namespace
FLAKY_TABLE = "hanat_fault_flaky"             # in the VPC router namespace
TARGETS_DOWN_TABLE = "hanat_fault_targets"    # in the internet namespace
NO_RESET_TABLE = "hanat_lab_no_reset"         # in a NAT namespace (--nat-reset off)


def _reset(table: str) -> str:
    return f"table inet {table}\ndelete table inet {table}\n"


def _set(addresses: Iterable[str]) -> str:
    items = sorted(set(addresses))
    if not items:
        raise InputError("a fault needs at least one address or subnet")
    return "{ " + ", ".join(items) + " }"


def blackhole_ruleset(on: bool) -> str:
    """The NAT silently drops everything it would forward (the instance is up but broken)."""
    if not on:
        return _reset(BLACKHOLE_TABLE)
    return _reset(BLACKHOLE_TABLE) + (
        f"table inet {BLACKHOLE_TABLE} {{\n"
        "    chain forward {\n"
        "        type filter hook forward priority filter - 10; policy accept;\n"
        "        drop\n"
        "    }\n"
        "}\n")


def loss_percent(loss: float) -> int:
    if not 0 < loss < 1:
        raise InputError(f"loss={loss} must be between 0 and 1 (exclusive)")
    return max(1, round(loss * 100))


def flaky_ruleset(on: bool, probe_cidrs: Iterable[str], loss: float = 0.2) -> str:
    """Random loss of ``loss`` on everything the router forwards from or to the probe subnets."""
    if not on:
        return _reset(FLAKY_TABLE)
    cidrs, pct = _set(probe_cidrs), loss_percent(loss)
    return _reset(FLAKY_TABLE) + (
        f"table inet {FLAKY_TABLE} {{\n"
        "    chain forward {\n"
        "        type filter hook forward priority filter - 10; policy accept;\n"
        f"        ip saddr {cidrs} numgen random mod 100 < {pct} drop\n"
        f"        ip daddr {cidrs} numgen random mod 100 < {pct} drop\n"
        "    }\n"
        "}\n")


def targets_down_ruleset(on: bool, targets: Iterable[str]) -> str:
    """The probe targets stop answering anyone: packets to them are dropped on arrival."""
    if not on:
        return _reset(TARGETS_DOWN_TABLE)
    return _reset(TARGETS_DOWN_TABLE) + (
        f"table inet {TARGETS_DOWN_TABLE} {{\n"
        "    chain input {\n"
        "        type filter hook input priority filter - 10; policy accept;\n"
        f"        ip daddr {_set(targets)} drop\n"
        "    }\n"
        "}\n")


def no_reset_ruleset(on: bool) -> str:
    """A table of its own before hanat_nat's forward chain: drop (a verdict no later chain overrides)
    forwarded TCP of unknown flows, so they never reach setup-nat.sh's reset. ``on=True``: removed."""
    reset = f"table inet {NO_RESET_TABLE}\ndelete table inet {NO_RESET_TABLE}\n"
    if on:
        return reset
    return reset + (f"table inet {NO_RESET_TABLE} {{\n"
                    "    chain forward {\n"
                    "        type filter hook forward priority filter - 20; policy accept;\n"
                    "        ct state invalid meta l4proto tcp tcp flags & (syn | rst) == 0 counter drop\n"
                    "    }\n"
                    "}\n")
