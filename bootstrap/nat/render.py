"""User data for the NAT and admin instances, rendered from the files beside this module.

The NAT's user data is setup-nat.sh with the VPC CIDR filled in and hanat-nat-agent and its library
hanat-nat-counters embedded (the instance has no other way to get them: it has no internet at boot),
gzip-compressed because EC2
limits user data to 16 KB before base64 and cloud-init decompresses gzip user data by itself
("Content found to be gzip compressed will be uncompressed", cloud-init docs, User-Data Formats).
The script's header comment (its documentation, kept in the repository) is left out of the user data
to keep it under that limit; the agent and its library are embedded byte for byte (the instance installs
them as they are).
Pure: no AWS call; the stack builder puts ``nat_user_data_b64(cidr)`` in the launch template.
"""
from __future__ import annotations

import base64
import gzip
import ipaddress
from importlib import resources

from chalicelib.errors import InputError

SETUP_SCRIPT = "setup-nat.sh"
AGENT = "hanat-nat-agent"
COUNTERS = "hanat-nat-counters"   # the agent's library (it sources the file beside it)
ADMIN_SCRIPT = "admin-setup.sh"
VPC_CIDR_PLACEHOLDER = "@@VPC_CIDR@@"
ADDRESSES_PLACEHOLDER = "@@NAT_ADDRESSES@@"   # nat.addresses: private addresses (one per Elastic IP) to SNAT over
PROBE_CIDRS_PLACEHOLDER = "@@PROBE_CIDRS@@"   # the probe subnets: the only readers of the agent's counters
AGENT_MARKER = "# @@HANAT_NAT_AGENT@@"
AGENT_EOF = "HANAT_NAT_AGENT_EOF"
COUNTERS_MARKER = "# @@HANAT_NAT_COUNTERS@@"
COUNTERS_EOF = "HANAT_NAT_COUNTERS_EOF"
USER_DATA_LIMIT = 16384   # bytes, raw (before base64): the EC2 user data limit


HEADER_POINTER = "# hanat NAT instance setup: bootstrap/nat/setup-nat.sh (its header documents it)."


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text()


def without_header(script: str) -> str:
    """``script`` with the comment block that follows its shebang replaced by one line pointing to it."""
    lines = script.split("\n")
    end = 1
    while end < len(lines) and lines[end].startswith("#"):
        end += 1
    return "\n".join([lines[0], HEADER_POINTER, *lines[end:]])


def agent_source() -> str:
    return _read(AGENT)


def counters_source() -> str:
    return _read(COUNTERS)


def _embedded(function: str, name: str, text: str, eof: str) -> str:
    """A bash function ``function`` printing ``text`` (the file ``name``) byte for byte, as a quoted heredoc."""
    if any(line == eof for line in text.splitlines()):
        raise InputError(f"{name} must not contain the line {eof!r}")
    return f"{function}() {{\n    cat <<'{eof}'\n{text.rstrip(chr(10))}\n{eof}\n}}"


def nat_script(vpc_cidr: str, addresses: int = 1, probe_cidrs: tuple[str, ...] = ()) -> str:
    """setup-nat.sh for ``vpc_cidr`` (one network, or a VPC's CIDR blocks comma-separated), ``addresses``
    private addresses (``nat.addresses``) and the stack's probe subnets ``probe_cidrs`` (the only sources
    that may read the agent's counters), with the agent and its library embedded: the text the instance runs."""
    if not 1 <= addresses <= 8:
        raise InputError(f"addresses={addresses}: a NAT has 1 to 8 addresses")
    for block in (*vpc_cidr.split(","), *probe_cidrs):
        try:
            ipaddress.IPv4Network(block)
        except ValueError as err:
            raise InputError(f"vpc_cidr={vpc_cidr!r} is not an IPv4 network ({err})") from err
    script = without_header(_read(SETUP_SCRIPT))
    placeholders = (VPC_CIDR_PLACEHOLDER, ADDRESSES_PLACEHOLDER, PROBE_CIDRS_PLACEHOLDER)
    markers = (AGENT_MARKER, COUNTERS_MARKER)
    if any(script.count(m) != 1 for m in markers) or any(p not in script for p in placeholders):
        raise InputError(f"{SETUP_SCRIPT} must hold each of {', '.join(map(repr, markers))} once "
                         f"and each of {', '.join(placeholders)}")
    agent = _embedded("embedded_agent", AGENT, agent_source(), AGENT_EOF)
    counters = _embedded("embedded_counters", COUNTERS, counters_source(), COUNTERS_EOF)
    return (script.replace(VPC_CIDR_PLACEHOLDER, vpc_cidr).replace(ADDRESSES_PLACEHOLDER, str(addresses))
            .replace(PROBE_CIDRS_PLACEHOLDER, ",".join(probe_cidrs))
            .replace(AGENT_MARKER, agent).replace(COUNTERS_MARKER, counters))


def nat_user_data(vpc_cidr: str, addresses: int = 1, probe_cidrs: tuple[str, ...] = ()) -> bytes:
    """The NAT's user data: ``nat_script`` gzip-compressed (deterministic: no timestamp)."""
    data = gzip.compress(nat_script(vpc_cidr, addresses, probe_cidrs).encode(), compresslevel=9, mtime=0)
    if len(data) > USER_DATA_LIMIT:
        raise InputError(f"NAT user data is {len(data)} bytes compressed; EC2 allows {USER_DATA_LIMIT}")
    return data


def nat_user_data_b64(vpc_cidr: str, addresses: int = 1, probe_cidrs: tuple[str, ...] = ()) -> str:
    """What a launch template's ``UserData`` takes."""
    return base64.b64encode(nat_user_data(vpc_cidr, addresses, probe_cidrs)).decode()


def admin_user_data() -> str:
    """The admin instance's user data: admin-setup.sh as is (small, no placeholder)."""
    return _read(ADMIN_SCRIPT)
