"""DupsWorks settings.cfg import: the seed's example maps onto hanat, bad files name settings.cfg keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.config import load_config
from bootstrap.config.dupsworks import import_dupsworks, sanitise_stack_name, seed_target_to_url
from chalicelib.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dupsworks-settings.cfg"
SEED = EXAMPLE.read_text()

MINIMAL = """[PersonalSettings]
vpc_cidr = 10.0.0.0/16
vpc_subnet_az1_public_cidr = 10.0.0.0/24
vpc_subnet_az1_private_cidr = 10.0.1.0/24
vpc_subnet_az2_public_cidr = 10.0.2.0/24
vpc_subnet_az2_private_cidr = 10.0.3.0/24
region = ap-northeast-1
vpc_subnet_az1 = ap-northeast-1a
vpc_subnet_az2 = ap-northeast-1c
stack_name = seed
  [[stack_permissions]]
    [[[user1]]]
    iam_user_arn = arn:aws:iam::123456789012:user/alice
    allow_ssh = True
    allow_sudo = True
[OptionalSettings]
instance_type_nat = t2.micro
[VPC]
target_via_checking_nat_az1 = www.google.com
target_via_checking_nat_az2 = www.google.com
"""


def test_seed_example_maps_onto_hanat():
    cfg = load_config(str(EXAMPLE))
    assert (cfg.stack.name, cfg.stack.region, cfg.stack.vpc_cidr) == ("mystack", "ap-northeast-1", "10.0.0.0/16")
    assert [(z.az, z.public_cidr, z.private_cidr, z.probe_cidr) for z in cfg.zones] == [
        ("ap-northeast-1a", "10.0.0.0/24", "10.0.1.0/24", "10.0.8.0/28"),
        ("ap-northeast-1c", "10.0.2.0/24", "10.0.3.0/24", "10.0.9.0/28"),
    ]
    assert cfg.nat.instance_type == "t2.micro"
    assert (cfg.admin.enabled, cfg.admin.instance_type) == (True, "t2.micro")
    assert cfg.probe.targets == ("tcp://www.google.com:443",)
    assert [(p.iam_user_arn, p.allow_ssh, p.allow_sudo) for p in cfg.permissions] == [
        ("arn:aws:iam::123456789012:user/alice", True, True),
        ("arn:aws:iam::123456789012:user/bob", True, False),
    ]
    assert cfg.source == str(EXAMPLE)


def test_seed_example_warns_once_per_retired_opsworks_setting():
    warnings = load_config(str(EXAMPLE)).warnings
    retired = [w for w in warnings if "OpsWorks Stacks was retired by AWS on 2024-05-26" in w]
    assert sorted(w.split(" ignored")[0] for w in retired) == [
        "PersonalSettings.stack_default_instance_profile_arn", "PersonalSettings.stack_service_role_arn",
        "section [OpsWorks]", "section [awscli]",
    ]
    replacements = {"stack_default_instance_profile_arn": "launch template", "stack_service_role_arn": "Chalice",
                    "[OpsWorks]": "Chalice controller", "[awscli]": "boto3"}
    for key, replacement in replacements.items():
        assert any(key in w and replacement in w for w in retired), (key, retired)
    others = [w for w in warnings if w not in retired]
    assert [w.split(" ")[0] for w in others] == [
        "PersonalSettings.vpc_name", "PersonalSettings.stack_name", "OptionalSettings.instance_type_admin",
        "VPC.target_via_checking_nat_az<N>:",
    ]
    assert "'MyStack' became stack name 'mystack'" in others[1]


def test_minimal_seed_file_has_no_warnings_beyond_target_conversion():
    cfg = import_dupsworks(MINIMAL, source="s.cfg")
    assert cfg.stack.name == "seed" and cfg.admin.enabled is False
    assert len(cfg.warnings) == 1 and "tcp://www.google.com:443" in cfg.warnings[0]


def test_targets_keep_order_and_are_unique_hosts_and_ips_become_tcp():
    text = MINIMAL.replace("target_via_checking_nat_az2 = www.google.com",
                           "target_via_checking_nat_az2 = 198.51.100.10\ntarget_via_checking_nat_az3 = www.google.com"
                           "\ntarget_via_checking_nat_az4 = https://203.0.113.10/health")
    cfg = import_dupsworks(text, source="s.cfg")
    assert cfg.probe.targets == ("tcp://www.google.com:443", "tcp://198.51.100.10:443", "https://203.0.113.10/health")


def test_more_than_two_seed_zones_are_imported_in_number_order():
    text = MINIMAL.replace("vpc_subnet_az2 = ap-northeast-1c",
                           "vpc_subnet_az2 = ap-northeast-1c\nvpc_subnet_az3 = ap-northeast-1d\n"
                           "vpc_subnet_az3_public_cidr = 10.0.4.0/24\nvpc_subnet_az3_private_cidr = 10.0.5.0/24")
    cfg = import_dupsworks(text, source="s.cfg")
    assert cfg.azs == ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
    assert (cfg.zones[2].public_cidr, cfg.zones[2].private_cidr, cfg.zones[2].probe_cidr) == (
        "10.0.4.0/24", "10.0.5.0/24", "10.0.10.0/28")


def test_derived_subnet_colliding_with_a_seed_subnet_names_the_key_to_set():
    text = MINIMAL.replace("vpc_subnet_az2 = ap-northeast-1c",
                           "vpc_subnet_az2 = ap-northeast-1c\nvpc_subnet_az3 = ap-northeast-1d")
    with pytest.raises(ConfigError) as info:
        import_dupsworks(text, source="s.cfg")
    assert info.value.problems == [
        ("PersonalSettings.vpc_subnet_az3_public_cidr 10.0.2.0/24 (derived) overlaps "
        "PersonalSettings.vpc_subnet_az2_public_cidr 10.0.2.0/24; set PersonalSettings.vpc_subnet_az3_public_cidr "
        "explicitly")]


INVALID = [
    # (replace old, with new, expected problem (prefix))
    ("vpc_subnet_az1_public_cidr", "vpc_subnet_az1_pubic_cidr", "unknown key PersonalSettings.vpc_subnet_az1_pubic_cidr"),
    ("vpc_subnet_az2_private_cidr = 10.0.3.0/24", "vpc_subnet_az2_private_cidr = 10.0.1.0/24",
     "PersonalSettings.vpc_subnet_az2_private_cidr 10.0.1.0/24 overlaps PersonalSettings.vpc_subnet_az1_private_cidr"),
    ("vpc_cidr = 10.0.0.0/16", "vpc_cidr = 10.0.0.1/16", "PersonalSettings.vpc_cidr '10.0.0.1/16' has host bits set"),
    ("region = ap-northeast-1", "region = tokyo", "PersonalSettings.region 'tokyo' is not an AWS region name"),
    ("vpc_subnet_az2 = ap-northeast-1c", "vpc_subnet_az2 = us-east-1a",
     "PersonalSettings.vpc_subnet_az2 'us-east-1a' is not an availability zone of region ap-northeast-1"),
    ("vpc_subnet_az2 = ap-northeast-1c", "vpc_subnet_az2 = ap-northeast-1a",
     "PersonalSettings.vpc_subnet_az2 ap-northeast-1a repeats PersonalSettings.vpc_subnet_az1"),
    ("vpc_subnet_az2 = ap-northeast-1c\n", "", "PersonalSettings.vpc_subnet_az2 is required"),
    ("vpc_subnet_az2", "old_az2", "unknown key PersonalSettings.old_az2"),
    ("stack_name = seed", "stack_name = 123", "PersonalSettings.stack_name '123' must be 1-32 characters"),
    ("stack_name = seed\n", "", "PersonalSettings.stack_name is required"),
    ("allow_sudo = True", "allow_sudo = maybe",
     "PersonalSettings.stack_permissions.user1.allow_sudo must be true or false, got string 'maybe'"),
    ("allow_sudo = True", "allow_sudo = True\n    shell = bash", "unknown key PersonalSettings.stack_permissions.user1.shell"),
    ("user/alice", "role/alice", ("PersonalSettings.stack_permissions.user1.iam_user_arn "
                                 "'arn:aws:iam::123456789012:role/alice' must be an IAM user ARN")),
    ("[[stack_permissions]]", "[[permissions]]", "unknown section PersonalSettings.permissions"),
    ("instance_type_nat = t2.micro", "instance_type_nat = t2micro",
     "OptionalSettings.instance_type_nat 't2micro' is not an EC2 instance type"),
    ("instance_type_nat", "instance_type_bastion", "unknown key OptionalSettings.instance_type_bastion"),
    ("target_via_checking_nat_az2", "ping_interval", "unknown key VPC.ping_interval"),
    ("target_via_checking_nat_az2 = www.google.com", "target_via_checking_nat_az2 =",
     "VPC.target_via_checking_nat_az2 must be one host name or IP address, got ''"),
    ("target_via_checking_nat_az2 = www.google.com", "target_via_checking_nat_az2 = bad_host!",
     "VPC.target_via_checking_nat_az2 'tcp://bad_host!:443' has an invalid host"),
    ("[VPC]", "[Network]", "unknown section [Network] (known: PersonalSettings, OptionalSettings, VPC, OpsWorks, awscli)"),
    ("[PersonalSettings]", "stray = 1\n[PersonalSettings]", "unknown key stray (outside any section)"),
    ("[PersonalSettings]", "[Personal]", "section [PersonalSettings] is missing"),
    ("region = ap-northeast-1", "region = ap-northeast-1\nregion = us-east-1", "s.cfg line 8: Duplicate keyword name"),
]


@pytest.mark.parametrize("old,new,expected", INVALID, ids=[c[2][:50] for c in INVALID])
def test_bad_settings_cfg_names_the_settings_key(old, new, expected):
    assert old in MINIMAL
    with pytest.raises(ConfigError) as info:
        import_dupsworks(MINIMAL.replace(old, new, 1), source="s.cfg")
    assert info.value.exit_code == 2
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_zone_count_error_names_the_seed_keys():
    text = "\n".join(line for line in MINIMAL.splitlines() if "az2" not in line)
    with pytest.raises(ConfigError) as info:
        import_dupsworks(text, source="s.cfg")
    assert "PersonalSettings.vpc_subnet_az<N> must list 2 to 6 zones, got 1" in info.value.problems


def test_all_problems_of_a_settings_file_come_in_one_error():
    text = (MINIMAL.replace("region = ap-northeast-1", "region = tokyo")
            .replace("instance_type_nat", "instance_type_bastion")
            .replace("vpc_subnet_az2_private_cidr = 10.0.3.0/24", "vpc_subnet_az2_private_cidr = 10.0.1.0/24")
            + "[Extra]\n")
    with pytest.raises(ConfigError) as info:
        import_dupsworks(text, source="s.cfg")
    problems = info.value.problems
    assert len(problems) == 4, problems
    for start in ("unknown key OptionalSettings.instance_type_bastion", "unknown section [Extra]",
                  "PersonalSettings.region 'tokyo'", "PersonalSettings.vpc_subnet_az2_private_cidr 10.0.1.0/24"):
        assert any(p.startswith(start) for p in problems), (start, problems)


@pytest.mark.parametrize("seed,expected", [
    ("MyStack", "mystack"), ("my_stack 2", "my-stack-2"), ("2024-Prod", "prod"), ("a" * 40, "a" * 32),
    ("ok-name", "ok-name"), ("___", ""), ("x--y__", "x-y"),
])
def test_sanitise_stack_name(seed, expected):
    assert sanitise_stack_name(seed) == expected


@pytest.mark.parametrize("seed,expected", [
    ("www.google.com", "tcp://www.google.com:443"), ("198.51.100.7", "tcp://198.51.100.7:443"),
    ("2001:db8::1", "tcp://[2001:db8::1]:443"), ("http://203.0.113.10/", "http://203.0.113.10/"),
])
def test_seed_target_to_url(seed, expected):
    assert seed_target_to_url(seed) == expected
