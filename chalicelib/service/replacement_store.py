"""NAT replacement records (use-case side): load and save a zone's replacement record as the pure
machine's ``Record`` (versioned: a run that loses a race gets ConflictError), and the summary
``hanat status`` shows of one."""
from __future__ import annotations

from dataclasses import replace

from ..aws import replacement_records
from ..replacement import machine as m
from .deps import Deps


def load(deps: Deps, az: str) -> m.Record | None:
    raw = replacement_records.load_record(deps.clients.dynamodb, deps.topology.table_name, az)
    return m.Record.from_dict(raw) if raw else None


def load_all(deps: Deps) -> dict[str, m.Record]:
    raws = replacement_records.list_records(deps.clients.dynamodb, deps.topology.table_name)
    return {r["az"]: m.Record.from_dict(r) for r in raws}


def save(deps: Deps, rec: m.Record, *, starting: bool = False) -> m.Record:
    version = replacement_records.put_record(deps.clients.dynamodb, deps.topology.table_name, rec.to_dict(),
                               expected_version=None if starting else rec.version)
    return replace(rec, version=version)


def summary(rec: m.Record) -> dict:
    """The view ``hanat status`` shows for a zone's replacement."""
    return {"az": rec.az, "status": rec.status, "step": rec.step, "reason": rec.reason,
            "old_instance_id": rec.old_instance_id, "new_instance_id": rec.new_instance_id or None,
            "attempts": rec.attempts, "failures": rec.failures, "started_at": rec.started_at,
            "planned": rec.planned, "drain_until": rec.drain_until or None, "roll_id": rec.roll_id or None,
            "left_old": rec.left_old, "console_tail": list(rec.console_tail),
            "next_attempt_at": rec.next_attempt_at or None, "finished_at": rec.finished_at or None,
            "last_error": rec.last_error or None, "history": list(rec.history)}
