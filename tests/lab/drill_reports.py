"""The netns drill files' shared parts: one lab session's run of some drills, read as ``hanat lab drill --json``
prints them, and what a failed check shows."""
from __future__ import annotations

from lab.config import load_lab_settings
from lab.drills.runner import DrillOptions, run_scenarios


def netns_reports(drills, options: DrillOptions | None = None) -> dict[str, dict]:
    """scenario -> its report as a dict, the drills run in order on the netns data plane (no chalice deploy)."""
    done = run_scenarios(list(drills), load_lab_settings(), dataplane="netns", options=options or DrillOptions(),
                         progress=lambda m: None, deploy=False)
    return {r.scenario: r.to_dict() for r in done}


def failed_checks(report: dict) -> dict:
    return {"failed": [k for k, ok in report["checks"].items() if not ok], "error": report["error"],
            "figures": report["figures"], "timeline": report["timeline"]}
