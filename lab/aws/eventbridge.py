"""EventBridge emulation: EC2 state changes delivered to the controller, and route moves, as they happen.

One thread polls the emulator every ~150 ms of the lab's clock (lab.clock), reading it again only when
it moved (``generation``: lab.aws.emulator.Emulator.generation) or the topology changed. An EC2
instance whose state changed becomes an EventBridge-shaped "EC2 Instance State-change Notification"
(unique event id) handed to the controller's ``handle_instance_state``, as EventBridge would invoke
``on_instance_state`` (each delivery's turn on the lab's clock taken when it is handed over). Each
private route table's default route is followed too: its moves are the drill's failovers and reverts
(in an adopted VPC also its ``cutover``, from the original NAT gateway to the zone's NAT, and its
``release``, back to the original target).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from chalicelib.errors import ConflictError
from lab.clock import LabClock, RealClock
from lab.timeline import Timeline

from .adapters import NatInstance, describe_nats, route_views

POLL_S = 0.15
EVENT_RETRIES = 3   # EventBridge retries a failed async invoke; so does the lab on a lost race


def state_change_event(instance_id: str, state: str, region: str, *, at: float | None = None) -> dict:
    """The EventBridge event EC2 emits when ``instance_id`` enters ``state``."""
    when = datetime.fromtimestamp(at or time.time(), tz=UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def served_by(eni: str | None, nats: list[NatInstance]) -> tuple[str | None, str | None]:
    """(zone tag, instance id) of the NAT owning ``eni``; (None, None) when no NAT owns it."""
    for nat in nats:
        if eni and eni in nat.eni_ids:
            return nat.az, nat.instance_id
    return None, None


def classify(own_zone: str, before: str | None, after: str | None, *, original: str = "",
             target_before: str | None = None, target_after: str | None = None) -> str:
    """A private route change, seen from the zone owning the table. ``original``: an adopted table's
    original target (its NAT gateway): leaving it for the zone's NAT is the ``cutover``, going back to it
    the ``release``."""
    if original and target_before == original and after == own_zone:
        return "cutover"
    if original and target_after == original:
        return "release"
    if after == own_zone:
        return "revert"
    if before == own_zone:
        return "failover"
    return "move"


class EventBridge:
    """Polls the emulator; emits instance-state events and records route moves on the timeline."""

    def __init__(self, *, ec2, stack: str, region: str, topology: Callable[[], object],
                 deliver: Callable[[dict], dict], timeline: Timeline, poll_s: float = POLL_S,
                 clock: LabClock | None = None, generation: Callable[[], int] | None = None):
        self._clock = clock or RealClock()
        self._generation = generation
        self._seen: tuple | None = None   # (generation, topology) last read
        self._ec2 = ec2
        self._stack = stack
        self._region = region
        self._topology = topology
        self._deliver = deliver
        self._timeline = timeline
        self._poll_s = poll_s
        self._states: dict[str, str] | None = None
        self._served: dict[str, str | None] = {}     # route table -> zone whose NAT serves it
        self._targets: dict[str, str | None] = {}    # route table -> what its 0.0.0.0/0 points at
        self._stop = self._clock.event()
        self._thread = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lab-event")
        self._lock = threading.Lock()
        self._in_flight = 0                 # deliveries handed to the pool and not done
        self._delivered = self._clock.event()   # set whenever none is in flight
        self._delivered.set()
        self.events_sent = 0
        self.errors: list[str] = []

    def start(self) -> EventBridge:
        self.poll_once()   # the baseline: no events for what already is
        self._thread = self._clock.thread(self._run, "lab-eventbridge")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._delivered.wait(30)   # on the lab's clock: a delivery may be waiting on it
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - recorded on the timeline; keep watching
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._timeline.add("watch_error", error=f"{type(exc).__name__}: {exc}")

    def poll_once(self) -> None:
        seen = (self._generation(), self._topology()) if self._generation is not None else None
        if seen is not None and seen == self._seen:
            return   # nothing it follows changed
        nats = describe_nats(self._ec2, self._stack)
        self._follow_instances(nats)
        self._follow_routes(nats)
        self._seen = seen

    def _follow_instances(self, nats: list[NatInstance]) -> None:
        now = {n.instance_id: n.state for n in nats}
        if self._states is None:
            self._states = now
            return
        for nat in nats:
            before = self._states.get(nat.instance_id)
            if before == nat.state:
                continue
            if before is None:
                self._timeline.add("new_nat", nat.az, instance=nat.instance_id, state=nat.state)
            else:
                self._timeline.add("instance_state", nat.az, instance=nat.instance_id, before=before,
                                   state=nat.state)
            self._hand_over(state_change_event(nat.instance_id, nat.state, self._region, at=self._clock.time()))
        self._states = now

    def _hand_over(self, event: dict) -> None:
        """Deliver ``event`` on the pool, its turn on the lab's clock taken now (lab.clock.token)."""
        with self._lock:
            self._in_flight += 1
            self._delivered.clear()
        token = self._clock.token("lab-event")
        self._pool.submit(token.run, self._deliver_one, event)

    def _deliver_one(self, event: dict) -> None:
        try:
            self._send(event)
        finally:
            with self._lock:
                self._in_flight -= 1
                if not self._in_flight:
                    self._delivered.set()

    def _send(self, event: dict) -> None:
        detail = event["detail"]
        for attempt in range(1, EVENT_RETRIES + 1):
            try:
                outcome = self._deliver(event)
                self.events_sent += 1
                self._timeline.add("event_handled", None, instance=detail["instance-id"],
                                   state=detail["state"], outcome=outcome)
                return
            except ConflictError as exc:
                if attempt == EVENT_RETRIES:
                    self._timeline.add("event_error", None, instance=detail["instance-id"], error=str(exc))
                else:
                    self._clock.sleep(0.1 * attempt)
            except Exception as exc:  # noqa: BLE001 - a failed invocation is recorded, as Lambda would log it
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._timeline.add("event_error", None, instance=detail["instance-id"],
                                   error=f"{type(exc).__name__}: {exc}")
                return

    def _follow_routes(self, nats: list[NatInstance]) -> None:
        topology = self._topology()
        owner = {rtb: z.az for z in topology.zones for rtb in z.private_route_table_ids}
        original = {t.route_table_id: t.original_target for z in topology.zones for t in z.adopted}
        views = route_views(self._ec2, sorted(owner))
        moved: dict[tuple[str, str, str | None, str | None], list[str]] = {}
        nat_of: dict[str, str | None] = {}
        for rtb, view in views.items():
            zone, instance = served_by(view.default_eni, nats)
            before, target_before = self._served.get(rtb, ""), self._targets.get(rtb)
            self._served[rtb], self._targets[rtb] = zone, view.default_target
            if before == "" or (before == zone and target_before == view.default_target):
                continue
            kind = classify(owner[rtb], before, zone, original=original.get(rtb, ""),
                            target_before=target_before, target_after=view.default_target)
            if before == zone and kind not in ("cutover", "release"):
                continue   # another target that is no NAT of the stack: not a move between NATs
            moved.setdefault((kind, owner[rtb], before, zone), []).append(rtb)
            nat_of[rtb] = instance
        for (kind, own, before, after), tables in moved.items():
            self._timeline.add(kind, own, **{"from": before, "to": after}, nat=nat_of[tables[0]], route_tables=tables)

    def served(self) -> dict[str, str | None]:
        """route table -> zone of the NAT serving it, as last seen."""
        return dict(self._served)
