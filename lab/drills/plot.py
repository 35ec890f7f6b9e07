"""``--plot``: one row per drill, one lane per zone showing its private hosts' egress over time —
through the zone's own NAT address, through another NAT's address, or no egress — with the fault,
recovery, failovers, reverts and replacement NATs marked (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from .report import DrillReport

EGRESS_COLOURS = {"own": "#2ca02c", "other": "#ff7f0e", "none": "#d62728"}
EGRESS_LABELS = {"own": "egress via own NAT address", "other": "egress via another NAT's address",
                 "none": "no egress"}
MARKS = {  # timeline event -> (colour, line style, label prefix)
    "fault": ("black", "-", "fault"),
    "recover": ("black", ":", "recovered"),
    "failover": ("#1f77b4", "--", "failover"),
    "revert": ("#9467bd", "--", "revert"),
    "new_nat": ("#8c564b", "-.", "new NAT"),
}
LANE_H = 0.7


def egress_kind(sample: dict, own: str | None) -> str:
    if not sample["ok"]:
        return "none"
    return "own" if own is None or sample.get("you") == own else "other"


def segments(samples: list[dict], t0: float, own: str | None) -> dict[str, list[tuple[float, float]]]:
    """kind -> [(start, width)] in seconds since ``t0``; each sample lasts until the next one."""
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in EGRESS_COLOURS}
    for here, nxt in pairwise(samples):
        start, width = here["t"] - t0, max(0.0, nxt["t"] - here["t"])
        kind = egress_kind(here, own)
        spans = out[kind]
        if spans and abs(spans[-1][0] + spans[-1][1] - start) < 1e-6:
            spans[-1] = (spans[-1][0], spans[-1][1] + width)   # merge: fewer, cleaner bars
        else:
            spans.append((start, width))
    return out


def own_address(samples: list[dict], fault_at: float) -> str | None:
    """The zone's own egress address: the last one seen before the fault."""
    before = [s.get("you") for s in samples if s["ok"] and s["t"] < fault_at and s.get("you")]
    return before[-1] if before else None


def plot_reports(reports: Sequence[DrillReport], path: str) -> str:
    """Write one row per drill to ``path`` (PNG); returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(len(reports), 1, figsize=(12, 2.3 * len(reports) + 1.0), squeeze=False)
    for ax, rep in zip(axes[:, 0], reports):
        zones = sorted(rep.samples)
        for i, az in enumerate(zones):
            pts = rep.samples[az]
            for kind, spans in segments(pts, rep.fault_at, own_address(pts, rep.fault_at)).items():
                ax.broken_barh(spans, (i - LANE_H / 2, LANE_H), facecolors=EGRESS_COLOURS[kind])
        top = len(zones) + 0.35
        marks = [e for e in rep.timeline if e["event"] in MARKS]
        for k, e in enumerate(marks):
            colour, line, prefix = MARKS[e["event"]]
            ax.axvline(e["t"], color=colour, linestyle=line, linewidth=1.2)
            label = prefix + (f" {e['zone']}" if e.get("zone") and e["event"] != "fault" else "")
            ax.text(e["t"], top - 0.25 * (k % 3), " " + label, fontsize=6.5, color=colour, ha="left", va="top")
        ax.set_yticks(range(len(zones)), zones, fontsize=8)
        ax.set_ylim(-0.5, len(zones) + 0.4)
        verdict = "PASSED" if rep.passed else "FAILED"
        figures = ", ".join(f"{name} {value:.2f}s" for name, value in
                            (("detection", rep.detection_s), ("RTO", rep.rto_s)) if value is not None)
        ax.set_title(f"{rep.scenario} ({rep.dataplane}): {verdict}  {figures}  failovers {rep.failovers}, "
                     f"reverts {rep.reverts}, egress {rep.egress_ip_before or '-'} -> {rep.egress_ip_after or '-'}",
                     fontsize=9, loc="left")
        ax.set_xlabel("seconds since the fault", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=EGRESS_COLOURS[k], label=EGRESS_LABELS[k]) for k in EGRESS_COLOURS]
    handles += [Line2D([], [], color=c, linestyle=ls, label=p) for c, ls, p in MARKS.values()]
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.9 / (2.3 * len(reports) + 1.0)))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
