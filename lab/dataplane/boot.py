"""A NAT that boots like a small instance with no way out: the ``nat-boot-offline`` drill's rules (pure).

Once armed (``BootGate.arm(delay_s, known)``), a NAT instance the lab has not seen before
- gets its namespace only ``delay_s`` after it was first seen running (EC2 says ``running`` long before
  the OS has booted and user data has run: a t4g.nano takes tens of seconds);
- boots with no public address (its Elastic IP is associated after ``running``; the data plane's next
  sync gives it the address) and with no package repository anywhere: every packet the NAT itself sends
  outside the VPC while its setup runs is counted and dropped (lab.dataplane.netns.offline);
- runs the NAT script as it ships (``HANAT_NAT_INSTALL`` at its default: it may try to install, and
  must not need to).
NATs known when the gate is armed (the stack's own) are not affected. The clock is passed in.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Boot:
    """One NAT's boot, as the drill reports it (epoch seconds; setup figures once it ran)."""

    instance_id: str
    seen_at: float
    created_at: float | None = None
    setup_s: float | None = None
    setup_rc: int | None = None
    setup_log: str = ""
    sent_outside: int | None = None    # packets the NAT itself sent outside the VPC during its setup

    def ran(self, rc: int, log: str, seconds: float, sent_outside: int) -> None:
        self.setup_rc, self.setup_log = rc, (log or "")[-2000:]
        self.setup_s, self.sent_outside = round(seconds, 3), sent_outside

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class BootGate:
    """Which NATs boot offline and when their namespaces may appear."""

    def __init__(self) -> None:
        self.delay_s: float | None = None
        self._known: frozenset[str] = frozenset()
        self.boots: dict[str, Boot] = {}

    def arm(self, delay_s: float, known: Iterable[str]) -> None:
        if delay_s < 0:
            raise ValueError(f"boot delay must be >= 0 seconds, got {delay_s:g}")
        self.delay_s = float(delay_s)
        self._known = frozenset(known)

    def disarm(self) -> None:
        """NATs launched from now on boot at once again."""
        self.delay_s = None
        self._known = frozenset()

    def applies_to(self, instance_id: str) -> bool:
        return self.delay_s is not None and instance_id not in self._known

    def hold(self, instance_id: str, now: float) -> bool:
        """True while ``instance_id`` is still booting (its namespace must not appear yet)."""
        if not self.applies_to(instance_id):
            return False
        boot = self.boots.setdefault(instance_id, Boot(instance_id, seen_at=now))
        return now - boot.seen_at < self.delay_s


