"""Pure parts of the lab data plane: names, addresses, tables, the NAT life-cycle plan, faults."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.errors import InputError
from lab.dataplane import addresses
from lab.dataplane.netns import faults, igw, layout
from lab.dataplane.spec import DataPlaneSpec, NatGatewayPlane, NatPlane, ZonePlane, validate_spec


def nat(i: int, state: str = "running", lab: str | None = "auto", suffix: str = "") -> NatPlane:
    return NatPlane(f"i-{i}{suffix}", f"eni-{i}{suffix}", f"10.0.{i * 10}.20", f"10.0.{i * 10}.0/24", state,
                    f"203.0.113.{101 + i}" if lab == "auto" else lab)


def spec(*nats: NatPlane, others: tuple[NatPlane, ...] = ()) -> DataPlaneSpec:
    nats = nats or (nat(0), nat(1))
    zones = tuple(ZonePlane(f"az-{i}", f"10.0.{i * 10}.0/24", f"10.0.{i * 10 + 1}.0/24",
                            f"10.0.{i * 10 + 2}.0/28", n) for i, n in enumerate(nats))
    routes = {c: z.nat.eni_id for z in zones for c in (z.private_cidr, z.probe_cidr)}
    return DataPlaneSpec("10.0.0.0/16", zones, routes, others)


def runtime(n: NatPlane, index: int, links_up: bool = True) -> layout.NatRuntime:
    return layout.NatRuntime(n.instance_id, index, n.private_ip, n.public_cidr, links_up)


# --- names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("run_id, role, expected", [
    ("ab12cd", "inet", "hanat-ab12cd-inet"),
    ("x", "nat-12", "hanat-x-nat-12"),
    ("12345678", "probe-0", "hanat-12345678-probe-0"),
])
def test_namespace_names_carry_the_hanat_prefix_and_run_id(run_id, role, expected):
    assert layout.netns_name(run_id, role) == expected


@pytest.mark.parametrize("run_id", ["", "UPPER", "has-dash", "123456789", "a b"])
def test_bad_run_ids_are_refused(run_id):
    with pytest.raises(InputError, match="run_id"):
        layout.run_prefix(run_id)


@pytest.mark.parametrize("parts, expected", [
    (("br-", "prv", 0), "br-prv0"),
    (("probe", 99), "probe99"),
    (("nat", 12345678901), "nat12345678901"),
])
def test_interface_names(parts, expected):
    assert layout.ifname(*parts) == expected


@pytest.mark.parametrize("parts", [("probe", 12345678901), ("",), ("bad name",), ("a/b",)])
def test_interface_names_the_kernel_would_refuse_are_refused(parts):
    with pytest.raises(InputError, match="interface name"):
        layout.ifname(*parts)


def test_every_fixed_interface_name_fits_the_kernel_limit():
    names = [layout.HOST_UPLINK, layout.AWS_UPLINK, layout.INET_BRIDGE, layout.AWS_PORT, layout.IGW_PORT,
             layout.IGW_INTERNET_DEV, layout.IGW_VPC_DEV,
             layout.bridge_name("pub", 999), layout.router_port("probe", 9999)]
    assert all(len(n) <= layout.IFNAME_MAX for n in names)


# --- addresses ------------------------------------------------------------------------------
@pytest.mark.parametrize("cidr, gw, host, prefix", [
    ("10.0.1.0/24", "10.0.1.1", "10.0.1.4", 24),
    ("10.0.2.16/28", "10.0.2.17", "10.0.2.20", 28),
    ("172.16.0.0/20", "172.16.0.1", "172.16.0.4", 20),
])
def test_subnet_addresses(cidr, gw, host, prefix):
    assert (layout.gateway(cidr), layout.host_address(cidr), layout.prefixlen(cidr)) == (gw, host, prefix)


def test_lab_addresses_are_stable_in_first_seen_order_and_in_the_lab_range():
    assert addresses.lab_addresses(["eipalloc-b", "eipalloc-a", "eipalloc-b", "eipalloc-c"]) == {
        "eipalloc-b": "203.0.113.101", "eipalloc-a": "203.0.113.102", "eipalloc-c": "203.0.113.103"}
    assert addresses.lab_address(149) == "203.0.113.250"
    with pytest.raises(InputError, match="EIP index 150"):
        addresses.lab_address(150)


# --- tables ---------------------------------------------------------------------------------
@pytest.mark.parametrize("zone, kind, table", [(0, "prv", 100), (0, "prb", 101), (1, "prv", 102), (3, "prb", 107)])
def test_table_ids_are_distinct_per_subnet(zone, kind, table):
    assert layout.table_id(zone, kind) == table


def test_router_tables_follow_the_route_targets():
    s = spec().with_route("10.0.1.0/24", "eni-1").with_route("10.0.12.0/28", "eni-nope")
    got = {(t.subnet_cidr, t.table): (t.via, t.nat_instance_id) for t in layout.router_tables(s)}
    assert got == {
        ("10.0.1.0/24", 100): ("10.0.10.20", "i-1"),    # failed over to NAT 1
        ("10.0.2.0/28", 101): ("10.0.0.20", "i-0"),
        ("10.0.11.0/24", 102): ("10.0.10.20", "i-1"),
        ("10.0.12.0/28", 103): (None, None),            # not a known NAT: blackhole
    }


# --- NAT life cycle ---------------------------------------------------------------------------
def kinds(actions):
    return [(a.kind, a.instance_id, a.index) for a in actions]


def test_first_sync_creates_every_live_nat_and_links_up_the_running_ones():
    s = spec(nat(0), nat(1, state="stopped"), others=(nat(2, state="terminated"),))
    assert kinds(layout.plan_nat_actions(s, {})) == [
        ("create", "i-0", 0), ("create", "i-1", 1), ("link_up", "i-0", 0)]


@pytest.mark.parametrize("state, links_up, expected", [
    ("running", True, []),
    ("running", False, [("link_up", "i-0", 0)]),
    ("stopped", True, [("link_down", "i-0", 0)]),
    ("stopping", True, [("link_down", "i-0", 0)]),
    ("pending", True, [("link_down", "i-0", 0)]),
    ("stopped", False, []),
    ("terminated", True, [("delete", "i-0", 0)]),
    ("shutting-down", True, [("link_down", "i-0", 0)]),
])
def test_instance_state_decides_the_links(state, links_up, expected):
    s = spec(nat(0, state=state), nat(1))
    built = {"i-0": runtime(nat(0), 0, links_up), "i-1": runtime(nat(1), 1)}
    assert kinds(layout.plan_nat_actions(s, built)) == expected


def test_replacement_gets_a_new_index_and_the_moved_eip_translates_to_the_new_nat():
    old, new = nat(0), NatPlane("i-0r", "eni-0r", "10.0.0.30", "10.0.0.0/24", "running", "203.0.113.101")
    s = spec(new, nat(1), others=(NatPlane(old.instance_id, old.eni_id, old.private_ip, old.public_cidr,
                                           "stopped", None),))
    built = {"i-0": runtime(old, 0), "i-1": runtime(nat(1), 1)}
    assert kinds(layout.plan_nat_actions(s, built)) == [
        ("link_down", "i-0", 0), ("create", "i-0r", 2), ("link_up", "i-0r", 2)]
    # The EIP is not the NAT's: the internet gateway's 1:1 translation follows the association.
    assert spec().eip_translations() == {"203.0.113.101": "10.0.0.20", "203.0.113.102": "10.0.10.20"}
    assert s.eip_translations() == {"203.0.113.101": "10.0.0.30", "203.0.113.102": "10.0.10.20"}


def test_eip_translations_skip_nats_without_an_eip_and_terminated_ones_and_add_nat_gateways():
    s = spec(nat(0, lab=None), nat(1), others=(nat(2, state="terminated"),))
    gateway = NatGatewayPlane("nat-0a", "10.0.0.254", "10.0.0.0/24", "203.0.113.51")
    assert replace(s, nat_gateways=(gateway,)).eip_translations() == {
        "203.0.113.102": "10.0.10.20", "203.0.113.51": "10.0.0.254"}
    assert s.with_nat_address("i-0", "203.0.113.101").eip_translations()["203.0.113.101"] == "10.0.0.20"
    assert "203.0.113.102" not in s.with_nat_address("i-1", None).eip_translations()   # DisassociateAddress


def test_an_eip_held_by_two_live_nats_is_refused():
    with pytest.raises(InputError, match="203.0.113.101 is held by both i-0 and i-1"):
        validate_spec(spec(nat(0), nat(1, lab="203.0.113.101")))
    validate_spec(spec(nat(0), nat(1), others=(nat(2, state="terminated", lab="203.0.113.101"),)))


def test_a_nat_missing_from_the_spec_is_deleted_and_indexes_are_never_reused():
    built = {"i-0": runtime(nat(0), 0), "i-1": runtime(nat(1), 1), "i-gone": runtime(nat(5), 5)}
    s = spec(nat(0), nat(1, suffix="r"))
    assert kinds(layout.plan_nat_actions(s, built)) == [
        ("delete", "i-1", 1), ("delete", "i-gone", 5), ("create", "i-1r", 6), ("link_up", "i-1r", 6)]


# --- spec validation --------------------------------------------------------------------------
def test_validate_spec_accepts_a_good_spec():
    validate_spec(spec())


def test_validate_spec_names_every_problem():
    bad_nat = NatPlane("i-0", "eni-0", "10.0.50.20", "10.0.0.0/24", "sleeping", "not-an-ip")
    zones = (ZonePlane("az-0", "10.0.0.0/24", "10.1.0.0/24", "10.0.0.128/25", bad_nat),
             ZonePlane("az-1", "10.0.10.0/24", "bogus", "10.0.12.0/29", nat(1)))
    with pytest.raises(InputError) as err:
        validate_spec(DataPlaneSpec("10.0.0.0/16", zones, {"10.0.99.0/24": "eni-0"}))
    text = str(err.value)
    for needle in ("private_cidr=10.1.0.0/24 is outside", "overlaps", "private_cidr='bogus'",
                   "probe_cidr=10.0.12.0/29 is smaller", "state='sleeping'", "10.0.50.20 is outside",
                   "lab_address='not-an-ip'", "routes[10.0.99.0/24]"):
        assert needle in text, needle
    assert len(err.value.problems) == 8


def test_spec_copies():
    s = spec()
    assert s.with_route("10.0.1.0/24", "eni-1").routes["10.0.1.0/24"] == "eni-1"
    assert s.routes["10.0.1.0/24"] == "eni-0"  # the original is untouched
    assert s.with_nat_state("i-1", "stopped").zone("az-1").nat.state == "stopped"
    replaced = s.with_zone_nat("az-0", nat(0, suffix="r"))
    assert replaced.zone("az-0").nat.instance_id == "i-0r" and [n.instance_id for n in replaced.other_nats] == ["i-0"]
    with pytest.raises(InputError, match="i-9"):
        s.with_nat_state("i-9", "stopped")
    with pytest.raises(InputError, match="az-9"):
        s.zone("az-9")


# --- faults -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ruleset, table", [
    (faults.blackhole_ruleset(True), faults.BLACKHOLE_TABLE),
    (faults.flaky_ruleset(True, ["10.0.2.0/28"]), faults.FLAKY_TABLE),
    (faults.targets_down_ruleset(True, layout.TARGETS), faults.TARGETS_DOWN_TABLE),
])
def test_fault_rulesets_replace_their_own_table_atomically(ruleset, table):
    assert ruleset.startswith(f"table inet {table}\ndelete table inet {table}\ntable inet {table} {{")
    assert "hanat_nat" not in ruleset and " drop" in ruleset


def test_fault_off_only_removes_the_table():
    assert faults.flaky_ruleset(False, []) == f"table inet {faults.FLAKY_TABLE}\ndelete table inet {faults.FLAKY_TABLE}\n"


def test_flaky_drops_both_directions_at_the_requested_rate():
    text = faults.flaky_ruleset(True, ["10.0.12.0/28", "10.0.2.0/28"], loss=0.35)
    assert "ip saddr { 10.0.12.0/28, 10.0.2.0/28 } numgen random mod 100 < 35 drop" in text
    assert "ip daddr { 10.0.12.0/28, 10.0.2.0/28 } numgen random mod 100 < 35 drop" in text


@pytest.mark.parametrize("loss", [0, 1, -0.1, 1.5])
def test_flaky_refuses_a_loss_outside_0_1(loss):
    with pytest.raises(InputError, match="loss"):
        faults.flaky_ruleset(True, ["10.0.2.0/28"], loss)


# --- the internet gateway's 1:1 translation (lab.dataplane.netns.igw) ---------------------------
def test_igw_ruleset_translates_each_eip_both_ways_and_drops_the_untranslated():
    # AWS: the internet gateway "logically provides the one-to-one NAT on behalf of your instance"
    # (Amazon VPC User Guide, Configuration for internet access).
    text = igw.ruleset({"203.0.113.102": "10.0.10.20", "203.0.113.101": "10.0.0.20"}, "inet0", "vpc0")
    assert text.startswith(f"table ip {igw.TABLE}\ndelete table ip {igw.TABLE}\n")
    assert "elements = { 203.0.113.101 : 10.0.0.20, 203.0.113.102 : 10.0.10.20 }" in text
    assert "elements = { 10.0.0.20 : 203.0.113.101, 10.0.10.20 : 203.0.113.102 }" in text
    assert 'iifname "inet0" ip daddr set ip daddr map @to_private' in text          # inbound, before routing
    assert 'oifname "inet0" ip saddr set ip saddr map @to_public' in text           # outbound, after it
    assert 'iifname "vpc0" oifname "inet0" ip saddr @translated accept' in text     # only EIP holders get out
    assert "policy drop" in text and f'counter name "{igw.UNTRANSLATED}" drop' in text
    assert "elements" not in igw.ruleset({}, "inet0", "vpc0")                       # nothing translated: no way out


@pytest.mark.parametrize("translations, needle", [
    ({"203.0.113.101": "10.0.0.20", "203.0.113.102": "10.0.0.20"}, "10.0.0.20 has two Elastic IPs"),
    ({"not-an-ip": "10.0.0.20"}, "not two IPv4 addresses"),
])
def test_igw_ruleset_refuses_what_aws_cannot_do(translations, needle):
    with pytest.raises(InputError, match=needle):
        igw.ruleset(translations, "inet0", "vpc0")


def test_igw_untranslated_counter_is_read_from_nft_json():
    listed = {"nftables": [{"metainfo": {}}, {"counter": {"name": igw.UNTRANSLATED, "packets": 7}}]}
    assert igw.untranslated_packets(listed) == 7
    with pytest.raises(ValueError):
        igw.untranslated_packets({"nftables": []})
