"""DupsWorks settings.cfg import: the published example maps onto hanat, bad files name settings.cfg keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.config import NameTemplates, load_config
from bootstrap.config.dupsworks import import_dupsworks, sanitise_stack_name, seed_target_to_url
from bootstrap.config.names import render_name
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


# The published settings.cfg.example as DupsWorks shipped it: examples/dupsworks-settings.cfg with
# the [PersonalSettings] values its README says to fill in emptied again.
FILLED_IN = {
    "region                      = ap-northeast-1\n": "region                      = \n",
    "vpc_subnet_az1              = ap-northeast-1a\n": "vpc_subnet_az1              = \n",
    "vpc_subnet_az2              = ap-northeast-1c\n": "vpc_subnet_az2              = \n",
}


def test_published_example_filled_in_maps_onto_hanat():
    cfg = load_config(str(EXAMPLE))
    assert (cfg.stack.name, cfg.stack.region, cfg.stack.vpc_cidr) == ("mystack", "ap-northeast-1", "10.0.0.0/16")
    assert [(z.az, z.public_cidr, z.private_cidr, z.probe_cidr) for z in cfg.zones] == [
        ("ap-northeast-1a", "10.0.0.0/24", "10.0.128.0/24", "10.0.8.0/28"),
        ("ap-northeast-1c", "10.0.1.0/24", "10.0.129.0/24", "10.0.9.0/28"),
    ]
    # t1.micro (both instance types in the example) cannot boot hanat's HVM AMI: the defaults instead
    assert cfg.nat.instance_type == "t4g.nano"
    assert (cfg.admin.enabled, cfg.admin.instance_type) == (True, "t4g.nano")
    assert cfg.probe.targets == ("tcp://8.8.4.4:443", "tcp://8.8.8.8:443", "tcp://google.co.jp:443")
    assert cfg.names == NameTemplates(vpc="MyVPC", subnet="MyVPC {kind} segment AZ{zone}",
                                      route_table="MyVPC {kind} segment AZ{zone}",
                                      internet_gateway="MyVPC Internet Gateway")
    assert render_name(cfg.names.subnet, stack="mystack", kind="private", az="ap-northeast-1c", zone=2) == \
        "MyVPC private segment AZ2"      # what DupsWorks named the same subnet
    assert [(p.iam_user_arn, p.allow_ssh, p.allow_sudo) for p in cfg.permissions] == [
        ("arn:aws:iam::123456789012:user/alice", True, True),
        ("arn:aws:iam::123456789012:user/bob", True, False),
    ]
    assert cfg.source == str(EXAMPLE)


def test_published_example_unedited_fails_only_on_personal_settings():
    text = SEED
    for filled, published in FILLED_IN.items():
        assert filled in text
        text = text.replace(filled, published)
    with pytest.raises(ConfigError) as info:
        import_dupsworks(text, source="settings.cfg")
    assert info.value.problems and all(p.startswith("PersonalSettings.") for p in info.value.problems), \
        info.value.problems


RETIRED = {
    # key (as the warning names it): a word of what replaces it in hanat
    "PersonalSettings.stack_service_role_arn": "Chalice controller",
    "PersonalSettings.stack_default_instance_profile_arn": "launch template",
    "OptionalSettings.stack_root_device_type": "EBS",
    "OptionalSettings.ec2_timeout_check_sg": "bounded",
    "OptionalSettings.ec2_timeout_retrieve_id": "bounded",
    "OptionalSettings.vpc_timeout_create_route_to_nat": "bounded",
    "OptionalSettings.instance_type_nat": "using the default t4g.nano",
    "OptionalSettings.instance_type_admin": "admin.enabled = true",
    "section [OpsWorks] (stack_default_os, instance_start_delay, necessary_security_groups, custom_cookbooks_giturl, "
    "custom_cookbooks_gitrev, packages_for_admin_layer, packages_for_nat_layer, instance_os_admin, "
    "instance_os_nat)": "Chalice controller",
    "section [awscli] (version)": "boto3",
    "VPC.target_via_checking_nat_az<N>": "TCP, not ICMP",
    "VPC.target_via_inetgw_az<N>": "control probe",
    "PersonalSettings.stack_name": "became stack name 'mystack'",
}


@pytest.mark.parametrize("key", RETIRED)
def test_published_example_warns_once_per_retired_key(key):
    warnings = load_config(str(EXAMPLE)).warnings
    naming = [w for w in warnings if w.startswith((key + " ", key + ":"))]
    assert len(naming) == 1, (key, warnings)
    assert RETIRED[key] in naming[0]


def test_published_example_has_no_other_warning():
    warnings = load_config(str(EXAMPLE)).warnings
    assert len(warnings) == len(RETIRED), warnings


def test_target_warnings_say_what_each_host_became():
    warnings = "\n".join(load_config(str(EXAMPLE)).warnings)
    for note in ("az1 8.8.4.4 -> tcp://8.8.4.4:443", "az2 8.8.8.8 -> tcp://8.8.8.8:443",
                 "az1 google.co.jp -> tcp://google.co.jp:443"):
        assert note in warnings


def test_minimal_seed_file_warns_only_of_target_conversion_and_its_non_nitro_nat_type():
    cfg = import_dupsworks(MINIMAL, source="s.cfg")
    assert cfg.stack.name == "seed" and cfg.admin.enabled is False
    assert len(cfg.warnings) == 2
    assert "tcp://www.google.com:443" in cfg.warnings[0]
    assert "t2.micro" in cfg.warnings[1] and "Nitro" in cfg.warnings[1]
    assert cfg.names == NameTemplates()


def test_targets_keep_order_and_are_unique_hosts_and_ips_become_tcp():
    text = MINIMAL.replace("target_via_checking_nat_az2 = www.google.com",
                           "target_via_checking_nat_az2 = 198.51.100.10\ntarget_via_checking_nat_az3 = www.google.com"
                           "\ntarget_via_checking_nat_az4 = https://203.0.113.10/health")
    cfg = import_dupsworks(text, source="s.cfg")
    assert cfg.probe.targets == ("tcp://www.google.com:443", "tcp://198.51.100.10:443", "https://203.0.113.10/health")


TARGETS = {
    # id: ([VPC] lines, probe.targets)
    "checking-then-gateway": (["target_via_checking_nat_az1 = 198.51.100.1", "target_via_inetgw_az1 = 203.0.113.9"],
                              ("tcp://198.51.100.1:443", "tcp://203.0.113.9:443")),
    "gateway-lines-come-after-checking-ones": (
        ["target_via_inetgw_az1 = 203.0.113.9", "target_via_checking_nat_az2 = 198.51.100.2"],
        ("tcp://198.51.100.2:443", "tcp://203.0.113.9:443")),
    "same-host-twice-once": (["target_via_checking_nat_az1 = 198.51.100.1", "target_via_inetgw_az1 = 198.51.100.1"],
                             ("tcp://198.51.100.1:443",)),
    "gateway-only": (["target_via_inetgw_az1 = 203.0.113.9", "target_via_inetgw_az2 = 203.0.113.8"],
                     ("tcp://203.0.113.9:443", "tcp://203.0.113.8:443")),
    "ipv6": (["target_via_checking_nat_az1 = 2001:db8::1"], ("tcp://[2001:db8::1]:443",)),
}


@pytest.mark.parametrize("case", TARGETS)
def test_seed_targets_become_tcp_probe_targets(case):
    lines, expected = TARGETS[case]
    head = MINIMAL.split("[VPC]")[0]
    cfg = import_dupsworks(head + "[VPC]\n" + "\n".join(lines) + "\n", source="s.cfg")
    assert cfg.probe.targets == expected


INSTANCE_TYPES = {
    # id: ([OptionalSettings] lines, (nat type, admin enabled, admin type), a phrase of the warning or None)
    "retired-nat-type": (["instance_type_nat = t1.micro"], ("t4g.nano", False, "t4g.nano"),
                         "t1.micro is a previous-generation type that runs only paravirtual (PV) AMIs"),
    "retired-m1": (["instance_type_nat = m1.small"], ("t4g.nano", False, "t4g.nano"), "m1.small is a previous-"),
    "current-nat-type-kept": (["instance_type_nat = t3.nano"], ("t3.nano", False, "t4g.nano"), None),
    "empty-nat-type-is-the-default": (["instance_type_nat = "], ("t4g.nano", False, "t4g.nano"), None),
    "retired-admin-type": (["instance_type_admin = t1.micro"], ("t4g.nano", True, "t4g.nano"),
                           "its type t1.micro is a previous-generation type"),
    "current-admin-type-kept": (["instance_type_admin = t3.micro"], ("t4g.nano", True, "t3.micro"), "of type t3.micro"),
}


@pytest.mark.parametrize("case", INSTANCE_TYPES)
def test_instance_types(case):
    lines, (nat, admin_enabled, admin_type), phrase = INSTANCE_TYPES[case]
    text = MINIMAL.replace("[OptionalSettings]\ninstance_type_nat = t2.micro\n",
                           "[OptionalSettings]\n" + "\n".join(lines) + "\n")
    cfg = import_dupsworks(text, source="s.cfg")
    assert (cfg.nat.instance_type, cfg.admin.enabled, cfg.admin.instance_type) == (nat, admin_enabled, admin_type)
    optional = [w for w in cfg.warnings if w.startswith("OptionalSettings.")]
    if phrase is None:
        assert optional == []
    else:
        assert len(optional) == 1 and phrase in optional[0], optional


TEMPLATES = {
    # id: ([PersonalSettings] vpc_name line, [VPC] lines, expected NameTemplates fields)
    "published": ("vpc_name = MyVPC", ["subnet_name_template = %(vpc_name)s %(layer)s segment %(group)s",
                                       "igw_name_template = %(vpc_name)s Internet Gateway"],
                  {"vpc": "MyVPC", "subnet": "MyVPC {kind} segment AZ{zone}",
                   "internet_gateway": "MyVPC Internet Gateway"}),
    "vpc-name-alone": ("vpc_name = Prod", [], {"vpc": "Prod"}),
    "braces-and-percent-are-literal": ("vpc_name = a{b}", ["rtb_name_template = %(vpc_name)s 100%% {x} %(group)s"],
                                       {"vpc": "a{{b}}", "route_table": "a{{b}} 100% {{x}} AZ{zone}"}),
    "no-vpc-name-template-without-it": ("", ["rtb_name_template = rt-%(layer)s"], {"route_table": "rt-{kind}"}),
}


@pytest.mark.parametrize("case", TEMPLATES)
def test_name_templates_become_name_tag_templates(case):
    vpc_name, lines, expected = TEMPLATES[case]
    head, _ = MINIMAL.split("[VPC]")
    head = head.replace("[PersonalSettings]\n", f"[PersonalSettings]\n{vpc_name}\n")
    cfg = import_dupsworks(head + "[VPC]\n" + "\n".join(lines) + "\n", source="s.cfg")
    assert cfg.names == NameTemplates(**expected)
    for field in expected:     # each renders as DupsWorks rendered it (literal braces included)
        render_name(getattr(cfg.names, field), stack="s", kind="public", az="ap-northeast-1a", zone=1)
    assert render_name(cfg.names.vpc, stack="s") == vpc_name.partition("= ")[2]


def test_derived_subnet_goes_around_the_seed_subnets():
    text = MINIMAL.replace("vpc_subnet_az2 = ap-northeast-1c",
                           "vpc_subnet_az2 = ap-northeast-1c\nvpc_subnet_az3 = ap-northeast-1d")
    cfg = import_dupsworks(text, source="s.cfg")
    # zone 3's layout public subnet (10.0.2.0/24) is the seed's az2 public one: the next free /24 instead
    assert (cfg.zones[2].public_cidr, cfg.zones[2].private_cidr, cfg.zones[2].probe_cidr) == (
        "10.0.6.0/24", "10.0.48.0/20", "10.0.10.0/28")


INVALID = {
    # id: (replace old, with new, expected problem (prefix))
    'misspelt-zone-key': (
        'vpc_subnet_az1_public_cidr', 'vpc_subnet_az1_pubic_cidr',
        'unknown key PersonalSettings.vpc_subnet_az1_pubic_cidr'),
    'overlapping-private-subnets': (
        'vpc_subnet_az2_private_cidr = 10.0.3.0/24', 'vpc_subnet_az2_private_cidr = 10.0.1.0/24',
        ('PersonalSettings.vpc_subnet_az2_private_cidr 10.0.1.0/24 overlaps '
         'PersonalSettings.vpc_subnet_az1_private_cidr')),
    'vpc-cidr-host-bits': (
        'vpc_cidr = 10.0.0.0/16', 'vpc_cidr = 10.0.0.1/16',
        "PersonalSettings.vpc_cidr '10.0.0.1/16' has host bits set"),
    'region-not-a-region': (
        'region = ap-northeast-1', 'region = tokyo',
        "PersonalSettings.region 'tokyo' is not an AWS region name"),
    'az-of-another-region': (
        'vpc_subnet_az2 = ap-northeast-1c', 'vpc_subnet_az2 = us-east-1a',
        "PersonalSettings.vpc_subnet_az2 'us-east-1a' is not an availability zone of region ap-northeast-1"),
    'repeated-az': (
        'vpc_subnet_az2 = ap-northeast-1c', 'vpc_subnet_az2 = ap-northeast-1a',
        'PersonalSettings.vpc_subnet_az2 ap-northeast-1a repeats PersonalSettings.vpc_subnet_az1'),
    'missing-az': (
        'vpc_subnet_az2 = ap-northeast-1c\n', '',
        'PersonalSettings.vpc_subnet_az2 is required'),
    'unknown-personal-key': (
        'vpc_subnet_az2', 'old_az2',
        'unknown key PersonalSettings.old_az2'),
    'stack-name-unusable': (
        'stack_name = seed', 'stack_name = 123',
        "PersonalSettings.stack_name '123' must be 1-32 characters"),
    'missing-stack-name': (
        'stack_name = seed\n', '',
        'PersonalSettings.stack_name is required'),
    'allow-sudo-not-boolean': (
        'allow_sudo = True', 'allow_sudo = maybe',
        "PersonalSettings.stack_permissions.user1.allow_sudo must be true or false, got string 'maybe'"),
    'unknown-permission-key': (
        'allow_sudo = True', 'allow_sudo = True\n    shell = bash',
        'unknown key PersonalSettings.stack_permissions.user1.shell'),
    'role-arn-not-user-arn': (
        'user/alice', 'role/alice',
        ('PersonalSettings.stack_permissions.user1.iam_user_arn '
         "'arn:aws:iam::123456789012:role/alice' must be an IAM user ARN")),
    'permissions-misnamed-section': (
        '[[stack_permissions]]', '[[permissions]]',
        'unknown section PersonalSettings.permissions'),
    'nat-type-malformed': (
        'instance_type_nat = t2.micro', 'instance_type_nat = t2micro',
        "OptionalSettings.instance_type_nat 't2micro' is not an EC2 instance type"),
    'unknown-optional-key': (
        'instance_type_nat', 'instance_type_bastion',
        'unknown key OptionalSettings.instance_type_bastion'),
    'unknown-vpc-key': (
        'target_via_checking_nat_az2', 'ping_interval',
        'unknown key VPC.ping_interval'),
    'empty-checking-target': (
        'target_via_checking_nat_az2 = www.google.com', 'target_via_checking_nat_az2 =',
        "VPC.target_via_checking_nat_az2 must be one host name or IP address, got ''"),
    'bad-target-host': (
        'target_via_checking_nat_az2 = www.google.com', 'target_via_checking_nat_az2 = bad_host!',
        "VPC.target_via_checking_nat_az2 'tcp://bad_host!:443' has an invalid host"),
    'unknown-section': (
        '[VPC]', '[Network]',
        'unknown section [Network] (known: PersonalSettings, OptionalSettings, VPC, OpsWorks, awscli)'),
    'key-outside-sections': (
        '[PersonalSettings]', 'stray = 1\n[PersonalSettings]',
        'unknown key stray (outside any section)'),
    'missing-personal-section': (
        '[PersonalSettings]', '[Personal]',
        'section [PersonalSettings] is missing'),
    'duplicate-key': (
        'region = ap-northeast-1', 'region = ap-northeast-1\nregion = us-east-1',
        's.cfg line 8: Duplicate keyword name'),
    'opsworks-key-in-no-release': (
        '[VPC]', '[OpsWorks]\nhostname_theme = Layer_Dependent\n[VPC]',
        'unknown key OpsWorks.hostname_theme'),
    'awscli-key-in-no-release': (
        '[VPC]', '[awscli]\nversion = 1.3.1\nprofile = default\n[VPC]',
        'unknown key awscli.profile'),
    'optional-key-in-no-release': (
        'instance_type_nat', 'ssh_key_name = x\ninstance_type_nat',
        'unknown key OptionalSettings.ssh_key_name'),
    'template-placeholder-never-filled': (
        '[VPC]', '[VPC]\nsubnet_name_template = %(layer)s %(zone)s',
        ("VPC.subnet_name_template '%(layer)s %(zone)s' has unknown placeholders %(zone)s "
         '(DupsWorks filled in %(vpc_name)s, %(layer)s, %(group)s)')),
    'igw-template-with-a-layer': (
        '[VPC]', '[VPC]\nigw_name_template = igw %(layer)s',
        "VPC.igw_name_template 'igw %(layer)s' has unknown placeholders %(layer)s"),
    'template-without-vpc-name': (
        '[VPC]', '[VPC]\nsubnet_name_template = %(vpc_name)s-x',
        'VPC.subnet_name_template uses %(vpc_name)s but PersonalSettings.vpc_name is not set'),
    'template-read-as-a-list': (
        '[VPC]', '[VPC]\nrtb_name_template = a, b',
        "VPC.rtb_name_template must be one text, got ['a', 'b']"),
    'rendered-name-aws-refuses': (
        '[VPC]', '[VPC]\nigw_name_template = aws:igw',
        "VPC.igw_name_template 'aws:igw' gives the name 'aws:igw', which starts with 'aws:'"),
    'empty-gateway-target': (
        'target_via_checking_nat_az2 = www.google.com', 'target_via_inetgw_az2 =',
        "VPC.target_via_inetgw_az2 must be one host name or IP address, got ''"),
}


@pytest.mark.parametrize("case", INVALID)
def test_bad_settings_cfg_names_the_settings_key(case):
    old, new, expected = INVALID[case]
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
], ids=["camel", "underscore-space", "leading-digits", "too-long", "unchanged", "nothing-left", "runs"])
def test_sanitise_stack_name(seed, expected):
    assert sanitise_stack_name(seed) == expected


@pytest.mark.parametrize("seed,expected", [
    ("www.google.com", "tcp://www.google.com:443"), ("198.51.100.7", "tcp://198.51.100.7:443"),
    ("2001:db8::1", "tcp://[2001:db8::1]:443"), ("http://203.0.113.10/", "http://203.0.113.10/"),
], ids=["host-name", "ipv4", "ipv6", "url-unchanged"])
def test_seed_target_to_url(seed, expected):
    assert seed_target_to_url(seed) == expected
