"""``--plot``: each zone's connectivity over time per drill, with the fault, recovery, failovers,
reverts and replacements marked (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from collections.abc import Sequence

from .report import DrillReport

MARKS = {  # timeline event -> (colour, line style, legend label)
    "fault": ("red", "-", "fault"),
    "recover": ("green", "-", "recovery"),
    "failover": ("orange", "--", "failover"),
    "revert": ("blue", "--", "revert"),
    "move": ("gray", "--", "route move"),
    "new_nat": ("purple", ":", "replacement NAT"),
}


def plot_reports(reports: Sequence[DrillReport], path: str) -> str:
    """Write one row per drill to ``path`` (PNG); returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(reports), 1, figsize=(11, 2.6 * len(reports)), squeeze=False)
    for ax, rep in zip(axes[:, 0], reports):
        zones = sorted(rep.samples)
        for i, az in enumerate(zones):
            pts = rep.samples[az]
            xs = [s["t"] - rep.fault_at for s in pts]
            ys = [i + (0.8 if s["ok"] else 0.0) for s in pts]
            ax.step(xs, ys, where="post", linewidth=1.4, label=f"{az} egress")
        seen: set[str] = set()
        for e in rep.timeline:
            style = MARKS.get(e["event"])
            if style is None:
                continue
            colour, line, label = style
            ax.axvline(e["t"], color=colour, linestyle=line, linewidth=1.1,
                       label=None if label in seen else label)
            seen.add(label)
        ax.set_yticks([i + 0.4 for i in range(len(zones))], [f"{z}\n(up=high)" for z in zones], fontsize=7)
        verdict = "PASSED" if rep.passed else "FAILED"
        rto = "-" if rep.rto_s is None else f"{rep.rto_s:.2f}s"
        ax.set_title(f"{rep.scenario} ({rep.dataplane}): {verdict}, rto {rto}, failovers {rep.failovers}, "
                     f"reverts {rep.reverts}", fontsize=9)
        ax.set_xlabel("seconds since fault", fontsize=8)
        ax.legend(loc="upper right", fontsize=6, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
