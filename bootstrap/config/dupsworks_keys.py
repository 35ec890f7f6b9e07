"""Every key of DupsWorks' published ``settings.cfg.example`` and what hanat does with each.

Source: github.com/yuki-takei/dupsworks (Apache-2.0), ``setup.cfg.example`` (2014-04-21), renamed
``settings.cfg.example`` (2014-04-22 .. 2014-12-17; ``[awscli] version`` since 2014-12-17). All
releases have the same keys apart from ``[awscli]``. A key that is in none of them is an error.
"""
from __future__ import annotations

import re

OPSWORKS_RETIRED = "OpsWorks Stacks was retired by AWS on 2024-05-26"

# Keys with a meaning in hanat (mapped by dupsworks.py).
PERSONAL_KEYS = ("vpc_name", "vpc_cidr", "region", "stack_name")
ZONE_KEY = re.compile(r"vpc_subnet_az([1-9]\d*)(?:_(public|private)_cidr)?")
PERMISSION_KEYS = ("iam_user_arn", "allow_ssh", "allow_sudo")
INSTANCE_TYPE_KEYS = {"instance_type_nat": "nat", "instance_type_admin": "admin"}
NAME_TEMPLATE_KEYS = {"subnet_name_template": "subnet", "rtb_name_template": "route_table",
                      "igw_name_template": "internet_gateway"}
CHECKING_NAT_KEY = re.compile(r"target_via_checking_nat_az([1-9]\d*)")
INTERNET_GATEWAY_KEY = re.compile(r"target_via_inetgw_az([1-9]\d*)")

# Keys without a meaning in hanat: accepted, one warning each (the reason after "ignored: ").
RETIRED_KEYS = {
    "PersonalSettings": {
        "stack_service_role_arn": f"{OPSWORKS_RETIRED}; no OpsWorks service role is needed: the Chalice "
                                  "controller runs under its own least-privilege IAM role",
        "stack_default_instance_profile_arn": f"{OPSWORKS_RETIRED}; hanat's launch template attaches its own "
                                              "instance profile to each NAT instance",
    },
    "OptionalSettings": {
        "stack_root_device_type": "hanat's NAT instances boot Amazon Linux 2023 from EBS (an HVM AMI)",
        "ec2_timeout_check_sg": "hanat waits for AWS with its own bounded, progress-reporting waits",
        "ec2_timeout_retrieve_id": "hanat waits for AWS with its own bounded, progress-reporting waits",
        "vpc_timeout_create_route_to_nat": "hanat waits for AWS with its own bounded, progress-reporting waits",
    },
}
# Sections that belonged to OpsWorks as a whole: one warning per section, naming the keys it had.
RETIRED_SECTIONS = {
    "OpsWorks": ("stack_default_os", "instance_start_delay", "necessary_security_groups",
                 "custom_cookbooks_giturl", "custom_cookbooks_gitrev", "packages_for_admin_layer",
                 "packages_for_nat_layer", "instance_os_admin", "instance_os_nat"),
    "awscli": ("version",),
}
RETIRED_SECTION_REASONS = {
    "OpsWorks": f"{OPSWORKS_RETIRED}; hanat's launch template (NAT user data) sets the instances up and its "
                "Chalice controller watches them and moves routes",
    "awscli": "hanat uses boto3 with the standard AWS settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)",
}
KNOWN_SECTIONS = ("PersonalSettings", "OptionalSettings", "VPC", *RETIRED_SECTIONS)
