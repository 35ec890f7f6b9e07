"""The network diagram: layout follows the topology, the PNG is real and of a sane size (no AWS)."""
from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from controller.views import diagram
from controller.views.diagram import example_topology, layout, render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND", "PNG is truncated"
    return width, height


def inside(point, box, tol=1e-6) -> bool:
    x, y = point
    return box.x - tol <= x <= box.x + box.w + tol and box.y - tol <= y <= box.y + box.h + tol


def test_renders_a_valid_png_of_sane_size(tmp_path):
    out = render(layout(example_topology()), tmp_path / "net.png")
    width, height = png_size(out)
    assert 1000 <= width <= 4000 and 600 <= height <= 3000
    assert 30_000 < out.stat().st_size < 5_000_000


def test_layout_has_every_zone_with_its_nat_eip_and_pinned_probe_route():
    topo = example_topology()
    lay = layout(topo)
    assert len(topo.zones) == 3
    for z in topo.zones:
        nat, private, probe = (lay.box(f"{kind}:{z.az}") for kind in ("nat", "private", "probe"))
        assert z.nat_eip in nat.label and z.nat_instance_id in nat.label
        assert f"probe_{z.az}" in probe.label and "pinned" in probe.label
        zone_box = lay.box(f"zone:{z.az}")
        for b in (nat, private, probe, lay.box(f"public:{z.az}")):
            assert inside((b.x, b.y), zone_box) and inside((b.x + b.w, b.y + b.h), zone_box)
        routes = [a for a in lay.arrows if a.kind == "route" and inside(a.start, private)]
        pinned = [a for a in lay.arrows if a.kind == "pinned" and inside(a.start, probe)]
        assert len(routes) == 1 and inside(routes[0].end, nat)
        assert len(pinned) == 1 and inside(pinned[0].end, nat)
    # the heartbeat (outside the VPC) invokes one probe per zone
    vpc, heartbeat = lay.box("vpc"), lay.box("heartbeat")
    assert not inside(heartbeat.top, vpc)
    invokes = [a for a in lay.arrows if a.kind == "invoke"]
    assert sorted(next(z.az for z in topo.zones if inside(a.end, lay.box(f"probe:{z.az}"))) for a in invokes) \
        == sorted(topo.azs)


@pytest.mark.parametrize("zones", [2, 5])
def test_other_zone_counts_render(tmp_path, zones):
    base = example_topology()
    more = tuple(dataclasses.replace(base.zones[0], az=f"us-east-1{c}", nat_eip=f"203.0.113.{40 + i}")
                 for i, c in enumerate("abcdef"[:zones]))
    topo = dataclasses.replace(base, zones=more, region="us-east-1")
    lay = layout(topo)
    assert len([b for b in lay.boxes if b.kind == "nat"]) == zones
    width, height = png_size(render(lay, tmp_path / f"net{zones}.png"))
    assert width > 1000 and height > 600


def test_cli_reads_a_topology_json_and_rejects_a_bad_one(tmp_path, capsys):
    topo_file = tmp_path / "topology.json"
    topo_file.write_text(example_topology().to_json())
    out = tmp_path / "from-json.png"
    assert diagram.main(["--out", str(out), "--topology-json", str(topo_file)]) == 0
    png_size(out)
    bad = tmp_path / "bad.json"
    bad.write_text('{"stack": "x"}')
    assert diagram.main(["--out", str(tmp_path / "never.png"), "--topology-json", str(bad)]) == 2
    assert "not a hanat topology" in capsys.readouterr().err
    assert not (tmp_path / "never.png").exists()


def test_checked_in_diagram_is_a_png():
    width, height = png_size(Path(__file__).resolve().parents[2] / "docs" / "network.png")
    assert width > 1000 and height > 600
