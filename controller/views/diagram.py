"""Draw the network ``hanat up`` builds, from a topology (no AWS): ``docs/network.png``.

    python -m controller.views.diagram --out docs/network.png [--topology-json FILE]

Without ``--topology-json`` a 3-zone example topology built in code is drawn. The layout is computed
first as plain boxes and arrows (tested), then painted with matplotlib's Agg backend.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from chalicelib.errors import HanatError, InputError
from chalicelib.topology import Topology, ZoneTopology

COLOURS = {
    "internet": "#eeeeee", "igw": "#d9d9d9", "vpc": "#fbfbf7", "zone": "#f2f2f2",
    "public": "#dff0d8", "nat": "#5cb85c", "private": "#d9e8f6", "probe": "#fcefdc",
    "lambda": "#f0ad4e", "service": "#e8e0f4", "heartbeat": "#f0ad4e",
}
ARROW_STYLES = {  # kind -> (colour, line style, width)
    "route": ("#2e6da4", "-", 2.0),
    "pinned": ("#d58512", "--", 2.2),
    "egress": ("#555555", "-", 2.0),
    "failover": ("#a94442", ":", 1.6),
    "invoke": ("#7a5ea8", "-", 1.3),
    "api": ("#7a5ea8", "-", 1.3),
}


@dataclass(frozen=True)
class Box:
    key: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    label: str

    @property
    def top(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w, self.y + self.h / 2)


@dataclass(frozen=True)
class Arrow:
    kind: str          # a key of ARROW_STYLES
    start: tuple[float, float]
    end: tuple[float, float]
    label: str = ""
    bend: float = 0.0  # arc3 radius: 0 straight
    via: tuple[tuple[float, float], ...] = ()   # corner points of a right-angled path

    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        return (self.start, *self.via, self.end)


@dataclass(frozen=True)
class Layout:
    title: str
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    width: float = 100
    height: float = 100
    figure_inches: tuple[float, float] = (16, 10.5)   # wider for more zones, so labels keep fitting

    def box(self, key: str) -> Box:
        return next(b for b in self.boxes if b.key == key)


def example_topology() -> Topology:
    """Three zones with made-up ids; EIPs from the documentation range 203.0.113.0/24."""
    zones = tuple(
        ZoneTopology(
            az=f"ap-northeast-1{suffix}", public_subnet_id=f"subnet-0pub{n}", private_subnet_id=f"subnet-0prv{n}",
            probe_subnet_id=f"subnet-0prb{n}", nat_instance_id=f"i-0nat{n}", nat_eni_id=f"eni-0nat{n}",
            nat_eip=f"203.0.113.{10 + n}", nat_eip_allocation_id=f"eipalloc-0{n}",
            private_route_table_ids=(f"rtb-0prv{n}",), probe_route_table_id=f"rtb-0prb{n}",
            public_route_table_id="rtb-0pub")
        for n, suffix in enumerate("acd", start=1))
    return Topology(stack="demo", region="ap-northeast-1", vpc_id="vpc-0demo", vpc_cidr="10.0.0.0/16",
                    table_name="hanat-demo-state", topic_arn="arn:aws:sns:ap-northeast-1:123456789012:hanat-demo",
                    topology_parameter="/hanat/demo/topology", zones=zones)


def layout(topo: Topology) -> Layout:
    """Place every box and arrow; zones are columns inside the VPC, the controller sits below it."""
    if not topo.zones:
        raise InputError("topology has no zones: nothing to draw")
    boxes: list[Box] = [
        Box("internet", "internet", 38, 92, 24, 6, "Internet\n(probe targets, egress)"),
        Box("igw", "igw", 43, 81.5, 14, 5, "Internet gateway"),
        Box("vpc", "vpc", 2, 24, 96, 60, f"VPC {topo.vpc_id}  {topo.vpc_cidr}   (stack {topo.stack}, "
                                          f"{topo.region})"),
    ]
    arrows: list[Arrow] = [Arrow("egress", (50, 86.5), (50, 92))]
    n = len(topo.zones)
    col_w = 94 / n
    for i, z in enumerate(topo.zones):
        x0 = 3 + i * col_w
        w = col_w - 2
        sub_w = w * 0.8          # subnets leave a lane on the right for the pinned probe route
        nat_w = (w - 2) * 0.55
        boxes += [
            Box(f"zone:{z.az}", "zone", x0, 26, w, 52, z.az),
            Box(f"public:{z.az}", "public", x0 + 1, 58, w - 2, 17,
                f"public subnet\n{z.public_subnet_id}\n0.0.0.0/0 -> IGW"),
            Box(f"nat:{z.az}", "nat", x0 + 1 + (w - 2) * 0.97 - nat_w, 61, nat_w, 10,
                f"NAT instance\n{z.nat_instance_id}\nEIP {z.nat_eip}"),
            Box(f"private:{z.az}", "private", x0 + 1, 44, sub_w, 10,
                f"private subnet {z.private_subnet_id}\n{', '.join(z.private_route_table_ids)}: "
                f"0.0.0.0/0 -> NAT {z.az[-1]}"),
            Box(f"probe:{z.az}", "probe", x0 + 1, 28, sub_w, 12,
                f"probe subnet {z.probe_subnet_id}\n{z.probe_route_table_id}: 0.0.0.0/0 -> NAT {z.az[-1]}"
                f" (pinned)\nLambda probe_{z.az}"),
        ]
    by_key = {b.key: b for b in boxes}
    for i, z in enumerate(topo.zones):
        nat, private, probe = by_key[f"nat:{z.az}"], by_key[f"private:{z.az}"], by_key[f"probe:{z.az}"]
        route_x = nat.x + nat.w * 0.25
        arrows.append(Arrow("route", (route_x, private.y + private.h), (route_x, nat.y), "0.0.0.0/0"))
        lane_x = (probe.x + probe.w + nat.x + nat.w) / 2
        arrows.append(Arrow("pinned", probe.right, (lane_x, nat.y), "pinned",
                            via=((lane_x, probe.right[1]),)))
        arrows.append(Arrow("egress", nat.top, (50 + (i - (n - 1) / 2) * 3, 81.5)))
    if n >= 2:
        first, second = topo.zones[0], topo.zones[1]
        src, dst = by_key[f"private:{first.az}"], by_key[f"nat:{second.az}"]
        arrows.append(Arrow("failover", (src.x + src.w * 0.8, src.y + src.h), (dst.x + dst.w * 0.2, dst.y),
                            f"failover: NAT {first.az[-1]} down ->\nroute moved to NAT {second.az[-1]}",
                            bend=-0.15))
    controller = [
        Box("events", "service", 3, 5, 15, 9, "EventBridge\nrate(1 minute)\n+ EC2 state changes"),
        Box("heartbeat", "heartbeat", 24, 3, 22, 13,
            "heartbeat Lambda\n(outside the VPC)\nsweep every "
            f"{topo.probe.interval_s:g} s: probe, decide, act"),
        Box("ec2", "service", 52, 11, 20, 7, "EC2 API\nReplaceRoute / replace NAT"),
        Box("state", "service", 52, 2, 20, 7, f"DynamoDB {topo.table_name}\nlease + state"),
        Box("sns", "service", 77, 6, 20, 9, "SNS alerts\n-> email, Slack"),
    ]
    boxes += controller
    hb = by_key["heartbeat"] = controller[1]
    arrows += [
        Arrow("api", controller[0].right, (hb.x, hb.y + hb.h / 2)),
        Arrow("api", (hb.x + hb.w, hb.y + hb.h * 0.75), (52, 14.5)),
        Arrow("api", (hb.x + hb.w, hb.y + hb.h * 0.25), (52, 5.5)),
        Arrow("api", (72, 14.5), (77, 10.5), bend=0.0),
    ]
    for z in topo.zones:
        probe = by_key[f"probe:{z.az}"]
        arrows.append(Arrow("invoke", (hb.x + hb.w / 2, hb.y + hb.h), probe.bottom, "invoke"))
    return Layout(title=f"hanat network: {n} zones, NAT instance per zone, serverless failover controller",
                  boxes=tuple(boxes), arrows=tuple(arrows), figure_inches=(max(16.0, 5.4 * n), 10.5))


def render(lay: Layout, out: str | Path, *, dpi: int = 110) -> Path:
    """Paint ``lay`` to a PNG at ``out`` (Agg backend: no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    fig, ax = plt.subplots(figsize=lay.figure_inches)
    try:
        ax.set_xlim(0, lay.width)
        ax.set_ylim(0, lay.height)
        ax.axis("off")
        ax.set_title(lay.title, fontsize=15, fontweight="bold")
        for b in lay.boxes:
            container = b.kind in ("vpc", "zone", "public")
            ax.add_patch(FancyBboxPatch((b.x, b.y), b.w, b.h, boxstyle="round,pad=0.2,rounding_size=0.8",
                                        facecolor=COLOURS[b.kind], edgecolor="#888888",
                                        linewidth=1.5 if b.kind == "vpc" else 1.0, zorder=1 if container else 3))
            if b.kind in ("vpc", "zone"):
                ax.text(b.x + 0.8, b.y + b.h - 0.6, b.label, fontsize=11 if b.kind == "vpc" else 10.5,
                        fontweight="bold", va="top", ha="left", zorder=4)
            elif b.kind == "public":
                ax.text(b.x + 0.8, b.y + b.h / 2 - 1, b.label, fontsize=8, va="center", ha="left", zorder=4)
            else:
                ax.text(b.x + b.w / 2, b.y + b.h / 2, b.label, fontsize=8.5, va="center", ha="center",
                        zorder=4, color="white" if b.kind == "nat" else "black",
                        fontweight="bold" if b.kind in ("nat", "heartbeat") else "normal")
        for a in lay.arrows:
            colour, style, width = ARROW_STYLES[a.kind]
            style_kw = {"arrowstyle": "-|>", "mutation_scale": 14, "color": colour, "linestyle": style,
                            "linewidth": width, "zorder": 5}
            if a.via:
                path = MplPath(a.points, [MplPath.MOVETO] + [MplPath.LINETO] * (len(a.points) - 1))
                ax.add_patch(FancyArrowPatch(path=path, **style_kw))
            else:
                ax.add_patch(FancyArrowPatch(a.start, a.end, connectionstyle=f"arc3,rad={a.bend}", **style_kw))
            if a.label and a.kind in ("failover",):
                mx, my = (a.start[0] + a.end[0]) / 2, (a.start[1] + a.end[1]) / 2
                ax.text(mx + 1, my, a.label, fontsize=8, color=colour, ha="left", va="center", zorder=6,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
        legend = [Line2D([], [], color=ARROW_STYLES[k][0], linestyle=ARROW_STYLES[k][1],
                         linewidth=ARROW_STYLES[k][2], label=text)
                  for k, text in (("route", "private default route -> own zone's NAT (failover moves it)"),
                                  ("pinned", "probe route -> own zone's NAT, pinned (never moved)"),
                                  ("failover", "after failover: route served by a healthy NAT"),
                                  ("egress", "egress via Elastic IP and internet gateway"),
                                  ("invoke", "controller: invoke probes, AWS API calls"))]
        ax.legend(handles=legend, loc="upper left", fontsize=8.5, frameon=True, bbox_to_anchor=(0.0, 1.0))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    return out


def load_topology(path: str) -> Topology:
    """A topology JSON file (the content of /hanat/<stack>/topology); bad files are bad input."""
    try:
        return Topology.from_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--topology-json {path!r}: cannot be read ({exc.strerror or exc})") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"--topology-json {path!r}: not a hanat topology ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.views.diagram", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--topology-json", help="topology JSON (default: a 3-zone example)")
    args = parser.parse_args(argv)
    try:
        topo = load_topology(args.topology_json) if args.topology_json else example_topology()
        path = render(layout(topo), args.out)
    except HanatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps({"out": str(path), "zones": len(topo.zones)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
