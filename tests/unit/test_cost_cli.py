"""``hanat cost`` end to end on the example config (no AWS: pricing only reads files)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.cost import load_prices

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hanat.toml"


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["cost", *args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_example_config_1000_gb_json(capsys):
    rc, out, err = run(capsys, "--config", str(EXAMPLE), "--gb-per-month", "1000", "--json")
    assert rc == 0, err
    d = json.loads(out)
    prices = load_prices().region("ap-northeast-1")
    assert d["region"] == "ap-northeast-1" and d["prices_as_of"] == load_prices().as_of
    assert d["gb_per_month"] == 1000
    hanat = {line["item"]: line["monthly_usd"] for line in d["hanat"]["lines"]}
    gateway = {line["item"]: line["monthly_usd"] for line in d["nat_gateway"]["lines"]}
    # the example: 3 zones of t4g.nano, admin disabled, one alert email
    assert hanat["NAT instances"] == pytest.approx(3 * prices.instance("t4g.nano") * 730, abs=1e-4)
    assert gateway["NAT Gateways"] == pytest.approx(3 * prices.nat_gateway_hourly * 730, abs=1e-4)
    assert gateway["NAT Gateway data processing"] == pytest.approx(1000 * prices.nat_gateway_per_gb, abs=1e-4)
    shared = "Data transfer out to the internet (same in both options)"
    assert hanat[shared] == gateway[shared] == pytest.approx(1000 * prices.data_transfer_out_per_gb)
    assert not any("Admin" in item for item in hanat)
    assert d["totals"]["hanat"] == pytest.approx(sum(hanat.values()), abs=0.01)
    assert d["totals"]["nat_gateway"] == pytest.approx(sum(gateway.values()), abs=0.01)
    assert d["savings_usd_per_month"] == pytest.approx(d["totals"]["nat_gateway"] - d["totals"]["hanat"],
                                                       abs=0.011)
    # three t4g.nano NATs cost less than three NAT Gateways even before traffic
    assert d["savings_usd_per_month"] > 0 and d["break_even_gb_per_month"] == 0
    assert d["assumptions"]


def test_table_output_shows_both_options(capsys):
    rc, out, _ = run(capsys, "--config", str(EXAMPLE), "--gb-per-month", "1000")
    assert rc == 0
    for needle in ("hanat (NAT instances)", "NAT Gateways", "break-even", "prices as of"):
        assert needle in out


def test_unknown_region_exit_2_naming_it_and_the_known_ones(capsys, tmp_path):
    text = EXAMPLE.read_text()
    text = text.replace('"ap-northeast-1"', '"sa-east-1"').replace("ap-northeast-1", "sa-east-1")
    cfg = tmp_path / "hanat.toml"
    cfg.write_text(text)
    rc, out, err = run(capsys, "--config", str(cfg), "--json")
    assert rc == 2 and out == ""
    assert "'sa-east-1'" in err and "us-east-1" in err and "ap-northeast-1" in err


def test_unknown_instance_type_exit_2_listing_known_types(capsys, tmp_path):
    # the example's NAT type, taken out of a copy of the price table
    prices = tmp_path / "prices.toml"
    shipped = Path(load_prices().source).read_text()
    assert '"t4g.nano" = 0.0054\n' in shipped
    prices.write_text(shipped.replace('"t4g.nano" = 0.0054\n', ""))
    rc, out, err = run(capsys, "--config", str(EXAMPLE), "--prices", str(prices), "--json")
    assert rc == 2 and out == ""
    assert "'t4g.nano'" in err and "t4g.micro" in err and "nat.instance_type" in err


def test_negative_traffic_is_bad_input(capsys):
    rc, out, err = run(capsys, "--config", str(EXAMPLE), "--gb-per-month", "-1", "--json")
    assert rc == 2 and out == "" and "--gb-per-month" in err


def test_default_lambda_memory_is_what_deploy_configures(capsys):
    """The heartbeat and probes are priced at the memory `hanat deploy` gives them."""
    from bootstrap.deploy.stage import stage_settings
    from chalicelib.naming import probe_handler_name
    from chalicelib.topology import Topology, ZoneTopology

    zone = ZoneTopology(az="ap-northeast-1a", public_subnet_id="subnet-pub", private_subnet_id="subnet-prv",
                        probe_subnet_id="subnet-prb", nat_instance_id="i-1", nat_eni_id="eni-1",
                        nat_eip="203.0.113.1", nat_eip_allocation_id="eipalloc-1",
                        private_route_table_ids=("rtb-1",), probe_route_table_id="rtb-2")
    topo = Topology(stack="demo", region="ap-northeast-1", vpc_id="vpc-1", vpc_cidr="10.0.0.0/16",
                    table_name="hanat-demo-state", topic_arn="arn:aws:sns:ap-northeast-1:1:t",
                    topology_parameter="/hanat/demo/topology", zones=(zone,), probe_security_group_id="sg-1")
    deployed = stage_settings(topo, "demo")
    controller_mb = deployed["lambda_functions"]["heartbeat"]["lambda_memory_size"]   # its own (bench/sweep.py)
    probe_mb = deployed["lambda_functions"][probe_handler_name(zone.az)]["lambda_memory_size"]
    from bootstrap.config import load_config
    from controller.cost.estimate import usage_from_config
    usage = usage_from_config(load_config(str(EXAMPLE)), gb_per_month=0)
    assert (usage.heartbeat_memory_mb, usage.probe_memory_mb) == (controller_mb, probe_mb)

    rc, out, err = run(capsys, "--config", str(EXAMPLE), "--gb-per-month", "0", "--json")
    assert rc == 0, err
    details = {line["item"]: line["detail"] for line in json.loads(out)["hanat"]["lines"]}
    assert f"x {controller_mb} MB" in details["Lambda heartbeat compute"]
    assert f"x {probe_mb} MB" in details["Lambda probe compute"]


def test_probes_are_priced_at_the_measured_healthy_duration_with_the_timeout_as_bound(capsys):
    from controller.cost.estimate import TYPICAL_PROBE_S
    rc, out, err = run(capsys, "--config", str(EXAMPLE), "--gb-per-month", "0", "--json")
    assert rc == 0, err
    est = json.loads(out)
    probe = next(line for line in est["hanat"]["lines"] if line["item"] == "Lambda probe compute")
    assert f"runs x {TYPICAL_PROBE_S:g} s" in probe["detail"] and "at most" in probe["detail"]
    assert any("upper bound is the probe timeout" in a for a in est["assumptions"])


def test_cost_warns_when_the_monthly_traffic_exceeds_the_nat_baseline_and_prices_every_address(capsys, tmp_path):
    # 3 zones x t4g.nano (32 Mbit/s baseline each, DescribeInstanceTypes); 60,000 GB/month over 3 NATs is
    # 20,000 GB each = 61 Mbit/s on average. traffic.gb_per_month is the default for --gb-per-month.
    # nat.addresses = 2: two public IPv4 addresses per NAT, each $0.005/h (VPC pricing, since 2024-02-01).
    base = EXAMPLE.read_text()
    assert base.count("[nat]") == 1 and base.count("[[zones]]") == 3
    config = tmp_path / "hanat.toml"
    config.write_text(base.replace("[nat]", "[nat]\naddresses = 2", 1) + "\n[traffic]\ngb_per_month = 60000\n")
    rc, out, err = run(capsys, "--config", str(config), "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["gb_per_month"] == 60000
    [warning] = d["capacity_warnings"]
    assert "monthly average traffic 61 Mbit/s" in warning and "hanat roll" in warning
    assert "61 Mbit/s" in err
    ipv4 = {line["item"]: line for line in d["hanat"]["lines"]}["Public IPv4 (NAT Elastic IPs)"]
    prices = load_prices().regions[d["region"]]
    assert ipv4["monthly_usd"] == pytest.approx(3 * 2 * prices.public_ipv4_hourly * 730)


def test_cost_says_why_the_heartbeat_has_its_memory_and_what_100_mb_more_costs(capsys):
    """One assumption line gives the deployed heartbeat memory's reason (bootstrap/deploy/stage.py) and the
    price of 100 MB more, equal to the heartbeat line's own difference; a memory given on the command line
    is not the deployed one, so no reason is claimed for it."""
    from bootstrap.deploy.stage import HEARTBEAT_MEMORY_MB, HEARTBEAT_MEMORY_WHY

    def heartbeat_usd_and_why(*extra):
        rc, out, err = run(capsys, "--config", str(EXAMPLE), "--gb-per-month", "0", "--json", *extra)
        assert rc == 0, err
        d = json.loads(out)
        usd = next(line["monthly_usd"] for line in d["hanat"]["lines"] if line["item"] == "Lambda heartbeat compute")
        return usd, [a for a in d["assumptions"] if a.startswith("heartbeat memory")]

    usd, why = heartbeat_usd_and_why()
    assert len(why) == 1 and f"heartbeat memory {HEARTBEAT_MEMORY_MB} MB, {HEARTBEAT_MEMORY_WHY}" in why[0]
    more, none = heartbeat_usd_and_why("--heartbeat-memory-mb", str(HEARTBEAT_MEMORY_MB + 100))
    assert none == []
    assert why[0].endswith(f"each 100 MB more costs ${more - usd:.2f}/month")
