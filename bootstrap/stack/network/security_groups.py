"""The two security groups' rules compared with what exists (pure): the NAT group's ingress set, both groups' egress.

What a NAT must accept from the VPC is what a NAT gateway carries: "NAT gateways support the following
protocols: TCP, UDP, and ICMP" (Amazon VPC User Guide, NAT gateway basics). UDP 4789 (VXLAN, the
handoff tunnel between NATs on planned moves) comes only from the NAT security group itself, so no
other host of the VPC can inject packets into a tunnel (setup-nat.sh also drops UDP 4789 from
anyone but the current handoff peers). Stacks built before this had one all-traffic rule from the VPC
CIDR: it is replaced.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..desired import ROLE_NAT_SG, ROLE_PROBE_SG
from ..model import ALL_IPV4, CREATE, MODIFY, Step

VXLAN_PORT = 4789
ALL_PORTS = (0, 65535)


@dataclass(frozen=True)
class Rule:
    protocol: str        # "tcp" | "udp" | "icmp" | "-1"
    from_port: int       # -1 for ICMP (every type) and "-1"
    to_port: int
    cidr: str = ""       # the source: a CIDR ...
    group_id: str = ""   # ... or a security group

    def permission(self) -> dict:
        """The rule as one EC2 IpPermissions entry."""
        perm: dict = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            perm.update(FromPort=self.from_port, ToPort=self.to_port)
        if self.cidr:
            perm["IpRanges"] = [{"CidrIp": self.cidr}]
        else:
            perm["UserIdGroupPairs"] = [{"GroupId": self.group_id}]
        return perm

    def describe(self) -> str:
        ports = "" if self.protocol in ("-1", "icmp") else f" {self.from_port}-{self.to_port}"
        proto = "all" if self.protocol == "-1" else self.protocol
        return f"{proto}{ports} from {self.cidr or self.group_id}"


def nat_ingress_rules(vpc_cidr: str, nat_group_id: str) -> frozenset[Rule]:
    """TCP, UDP (but 4789) and ICMP from the VPC; UDP 4789 from the NAT group itself."""
    rules = {
        Rule("tcp", *ALL_PORTS, cidr=vpc_cidr),
        Rule("udp", 0, VXLAN_PORT - 1, cidr=vpc_cidr),
        Rule("udp", VXLAN_PORT + 1, 65535, cidr=vpc_cidr),
        Rule("icmp", -1, -1, cidr=vpc_cidr),
    }
    if nat_group_id:
        rules.add(Rule("udp", VXLAN_PORT, VXLAN_PORT, group_id=nat_group_id))
    return frozenset(rules)


def legacy_ingress_rules(vpc_cidr: str) -> frozenset[Rule]:
    """What older stacks had instead (it lets any VPC host send VXLAN to a NAT): revoked by ``up``."""
    return frozenset({Rule("-1", -1, -1, cidr=vpc_cidr)})


def ingress_rules(permissions: list[dict]) -> frozenset[Rule]:
    """DescribeSecurityGroups' IpPermissions as single-source rules (EC2 groups sources per port range)."""
    rules = set()
    for perm in permissions:
        protocol = str(perm.get("IpProtocol", ""))
        if protocol == "-1":
            ports = (-1, -1)
        else:
            ports = (int(perm.get("FromPort", -1)), int(perm.get("ToPort", -1)))
        rules.update(Rule(protocol, *ports, cidr=r["CidrIp"]) for r in perm.get("IpRanges", []))
        rules.update(Rule(protocol, *ports, group_id=g["GroupId"]) for g in perm.get("UserIdGroupPairs", []))
    return frozenset(rules)


def ingress_changes(vpc_cidr: str, nat_group_id: str, permissions: list[dict]) -> tuple[list[Rule], list[Rule]]:
    """(rules to add, rules to revoke) for the NAT group, in a stable order."""
    have = ingress_rules(permissions)
    add = sorted(nat_ingress_rules(vpc_cidr, nat_group_id) - have, key=Rule.describe)
    revoke = sorted(have & legacy_ingress_rules(vpc_cidr), key=Rule.describe)
    return add, revoke


def allows_all(permissions: list[dict], cidr: str) -> bool:
    """True when ``permissions`` let all traffic through from (or to) ``cidr``."""
    return any(p.get("IpProtocol") == "-1" and any(r.get("CidrIp") == cidr for r in p.get("IpRanges", []))
               for p in permissions)


def egress_steps(nat_sg: dict | None, probe_sg: dict | None) -> list[Step]:
    """Both groups let everything out; the probe group is created here (the NAT group by its ingress step)."""
    steps: list[Step] = []
    if nat_sg and not allows_all(nat_sg.get("IpPermissionsEgress", []), ALL_IPV4):
        steps.append(Step(MODIFY, "security-group-egress", name=ROLE_NAT_SG, detail="all"))
    if not probe_sg:
        steps.append(Step(CREATE, "security-group", name=ROLE_PROBE_SG))
    elif not allows_all(probe_sg.get("IpPermissionsEgress", []), ALL_IPV4):
        steps.append(Step(MODIFY, "security-group-egress", name=ROLE_PROBE_SG, detail="all"))
    return steps
