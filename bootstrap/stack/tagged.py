"""The stack's resources as found by tag: indexed by their ``hanat:role`` and ``hanat:zone`` (pure)."""
from __future__ import annotations

from chalicelib import naming
from chalicelib.aws import tags


def role_zone(resource: dict) -> tuple[str, str]:
    found = tags.tag_map(resource)
    return found.get(naming.ROLE_TAG, ""), found.get(naming.ZONE_TAG, "")


def by_role_zone(resources: list[dict], id_key: str) -> dict[tuple[str, str], dict]:
    """Index by (role, zone); duplicates resolve to the lowest id so every run picks the same one."""
    out: dict[tuple[str, str], dict] = {}
    for r in sorted(resources, key=lambda r: r[id_key]):
        out.setdefault(role_zone(r), r)
    return out
