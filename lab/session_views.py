"""What a lab session sees of the routes and the egress, as the drills judge them: which NAT serves each
zone, whether every route points at a NAT the controller holds UP (``routes_ok``), whether the session is at
steady state (``steady``), an adopted zone back on its original targets. Read from the emulator through
the session's observer look (``look``), the heartbeat's status and the data plane's egress samples.

``RouteViews`` is mixed into ``lab.session.LabSession``, which provides ``topology()``, ``look``, ``stack``,
``heartbeat``, ``dataplane``, ``clock`` and ``samples(az)``.
"""
from __future__ import annotations


def _proven_nat(eni: str, nats: dict, health: dict) -> bool:
    """``eni`` is a running NAT's, and the controller holds that NAT UP as its zone's."""
    nat = next((n for n in nats.values() if eni in n.eni_ids), None)
    if nat is None or nat.state != "running":
        return False
    zone_status = health.get(nat.az, {})
    return zone_status.get("nat_health") == "UP" and zone_status.get("nat_instance_id") == nat.instance_id


class RouteViews:
    """The drills' views of routes and egress (see the module's docstring for what the host provides)."""

    def served_by(self) -> dict[str, str | None]:
        """Each zone -> the zone whose NAT serves its (first) private route table, from the emulator."""
        topology = self.topology()
        nats = self.look.nats(self.stack)
        tables = [z.private_route_table_ids[0] for z in topology.zones]
        targets = self.look.default_route_targets(tables)
        out = {}
        for z in topology.zones:
            eni = targets.get(z.private_route_table_ids[0])
            out[z.az] = next((n.az for n in nats if eni in n.eni_ids), None)
        return out

    def routes_ok(self) -> bool:
        """Every private route table points at a running NAT the controller holds UP (proven); in an
        adopted VPC a table may also point at its original target, an available NAT gateway (its zone
        not cut over yet, or released)."""
        topology = self.topology()
        nats = {n.instance_id: n for n in self.look.nats(self.stack)}
        health = {s["az"]: s for s in self.heartbeat.status()}
        tables = [rtb for z in topology.zones for rtb in z.private_route_table_ids]
        if topology.adopts_vpc:
            return self._adopted_routes_ok(topology, nats, health)
        for eni in self.look.default_route_targets(tables).values():
            if not _proven_nat(eni, nats, health):
                return False
        return True

    def _adopted_routes_ok(self, topology, nats, health) -> bool:
        views = self.look.route_views([t for z in topology.zones for t in z.private_route_table_ids])
        originals = {t.route_table_id: t.original_target for z in topology.zones for t in z.adopted}
        gateways = self.look.nat_gateway_states([g for g in originals.values() if g.startswith("nat-")])
        for table, view in views.items():
            target = view.default_target
            if target and target == originals.get(table):
                if target.startswith("nat-") and gateways.get(target) != "available":
                    return False
                continue
            if not _proven_nat(target, nats, health):
                return False
        return True

    def on_original_targets(self, az: str) -> bool:
        """Adopted VPC: every route table of zone ``az`` points at its original target again (released)."""
        zone = self.topology().zone(az)
        views = self.look.route_views(list(zone.private_route_table_ids))
        return all(views[t.route_table_id].default_target == t.original_target for t in zone.adopted)

    def steady(self) -> bool:
        """Every zone served by its own NAT, every NAT UP, every private host reaching the internet and
        keeping its long-lived connections open (in an adopted VPC, a zone on its original NAT gateways is
        steady too: not cut over yet, or released)."""
        missing = getattr(self.dataplane, "connections_missing", None)
        if missing is not None and missing():   # a fault before they are up would count them wrong
            return False
        if self.topology().adopts_vpc:
            return self._adopted_steady()
        status = self.heartbeat.status()
        if len(status) != len(self.topology().zones) or any(s.get("nat_health") != "UP" for s in status):
            return False
        if any(zone != own for own, zone in self.served_by().items()):
            return False
        return self._egress_ok()

    def _adopted_steady(self) -> bool:
        topology = self.topology()
        health = {s["az"]: s for s in self.heartbeat.status()}
        views = self.look.route_views([t for z in topology.zones for t in z.private_route_table_ids])
        for z in topology.zones:
            for table in z.private_route_table_ids:
                target = views[table].default_target
                if target and target == z.original_target(table):
                    continue
                zone_status = health.get(z.az, {})
                if (target != z.nat_eni_id or zone_status.get("nat_health") != "UP"
                        or zone_status.get("nat_instance_id") != z.nat_instance_id):
                    return False
        return self._egress_ok()

    def _egress_ok(self) -> bool:
        now = self.clock.time()
        for z in self.topology().zones:
            recent = [s for s in self.samples(z.az) if s.t >= now - 0.5]
            if not recent or not all(s.ok for s in recent):
                return False
        return True
