"""The emulator read out of band for the IAM recorder: what a request's parameters do not say.

Every read runs inside ``callers.unrecorded()`` (so the recorder leaves it alone) with clients marked as
the lab's observer (faults and stale reads leave them alone: lab.aws.moto_server). It stands for what
IAM itself knows when it decides: a resource's tags as they are, a launch template's contents, the
stacks' topologies and the role policies ``hanat deploy`` wrote.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping

from chalicelib.aws.calls import aws_call, paginate
from chalicelib.aws.clients import CLIENT_CONFIG, make_session
from chalicelib.errors import AwsError
from chalicelib.topology import Topology

from .callers import OBSERVER_MARK, unrecorded
from .requests import Look

OBSERVER_CONFIG = CLIENT_CONFIG.merge(type(CLIENT_CONFIG)(user_agent_extra=OBSERVER_MARK,
                                                          retries={"mode": "standard", "max_attempts": 2}))


def loopback(endpoint: str | None) -> bool:
    return bool(endpoint) and endpoint.split("://", 1)[-1].startswith(("127.0.0.1", "localhost", "[::1]"))


class EmulatorLook(Look):
    """Out-of-band reads of one region of the emulator the recorded call went to: the loopback moto server
    at ``endpoint``, or in-process moto (``endpoint`` None: the call itself only runs under ``mock_aws``,
    and so do these reads, made while it runs)."""

    def __init__(self, region: str, endpoint: str | None = None, launched_eni_tags: Mapping | None = None):
        self.region = region
        self.endpoint = endpoint
        self.launched_eni_tags = launched_eni_tags if launched_eni_tags is not None else {}
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                # the moto server serves every service on one endpoint; in-process moto: the default ones
                self._clients[service] = make_session(self.region).client(
                    service, region_name=self.region, endpoint_url=self.endpoint, config=OBSERVER_CONFIG)
            return self._clients[service]

    def _call(self, name: str, method: str, **kwargs):
        with unrecorded():
            return aws_call(f"iam-lookup {name}.{method}", getattr(self.client(name), method), **kwargs)

    def ec2_tags(self, resource_id: str) -> Mapping[str, str]:
        tags = self._call("ec2", "describe_tags", Filters=[{"Name": "resource-id", "Values": [resource_id]}])
        found = {t["Key"]: t["Value"] for t in tags.get("Tags", ())}
        # The lab differs from AWS here: moto (5.2) does not apply RunInstances' "network-interface"
        # TagSpecifications (it tags the instance and volumes only); AWS tags the interfaces it creates.
        # The recorder keeps what each launch asked for its interfaces (Recorder.on_result).
        return found or dict(self.launched_eni_tags.get(resource_id, {}))

    def launch_template(self, ident: Mapping) -> tuple[str, Mapping]:
        by = {"LaunchTemplateId": ident["LaunchTemplateId"]} if "LaunchTemplateId" in ident \
            else {"LaunchTemplateName": ident["LaunchTemplateName"]}
        version = self._call("ec2", "describe_launch_template_versions", **by,
                             Versions=[str(ident.get("Version", "$Default"))])["LaunchTemplateVersions"][0]
        return version["LaunchTemplateId"], version.get("LaunchTemplateData", {})

    def instance_profile_role(self, profile: Mapping) -> str | None:
        name = profile.get("Name") or profile.get("Arn", "").rsplit("/", 1)[-1]
        try:
            roles = self._call("iam", "get_instance_profile", InstanceProfileName=name)["InstanceProfile"]["Roles"]
        except AwsError:
            return None      # no such profile: RunInstances fails before any role is passed
        return roles[0]["Arn"] if roles else None

    def route_table_association(self, association_id: str) -> tuple[str, str | None]:
        tables = self._call("ec2", "describe_route_tables", Filters=[
            {"Name": "association.route-table-association-id", "Values": [association_id]}])["RouteTables"]
        for table in tables:
            for assoc in table.get("Associations", ()):
                if assoc.get("RouteTableAssociationId") == association_id:
                    return table["RouteTableId"], assoc.get("SubnetId")
        raise AwsError("DescribeRouteTables", "InvalidAssociationID.NotFound", association_id)

    def address_association(self, association_id: str) -> tuple[str | None, str | None]:
        addresses = self._call("ec2", "describe_addresses", Filters=[
            {"Name": "association-id", "Values": [association_id]}])["Addresses"]
        return (addresses[0].get("AllocationId"), addresses[0].get("NetworkInterfaceId")) if addresses else (None, None)

    def secure_parameter(self, name: str) -> bool:
        found = self._call("ssm", "describe_parameters", ParameterFilters=[
            {"Key": "Name", "Option": "Equals", "Values": [name]}])["Parameters"]
        return bool(found) and found[0].get("Type") == "SecureString"

    def default_security_group(self, subnet_id: str) -> str:
        vpc = self._call("ec2", "describe_subnets", SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
        return self._call("ec2", "describe_security_groups", Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]

    def adoptable_vpc_exists(self) -> bool:
        """A VPC hanat did not build (not the default one, no hanat:stack tag): the operator adopts."""
        vpcs = self._call("ec2", "describe_vpcs")["Vpcs"]
        return any(not v.get("IsDefault") and not any(t["Key"] == "hanat:stack" for t in v.get("Tags", ()))
                   for v in vpcs)

    def topologies(self) -> list[Topology]:
        with unrecorded():
            params = paginate("iam-lookup ssm.GetParametersByPath", self.client("ssm"), "get_parameters_by_path",
                              "Parameters", Path="/hanat/", Recursive=True)
        return [Topology.from_json(p["Value"]) for p in params if p["Name"].endswith("/topology")]

    def controller_role_policies(self, kind: str) -> dict[str, dict]:
        """The inline policies of the roles ``hanat deploy`` made (hanat-<stage>-<region>-<kind>), by role."""
        with unrecorded():
            roles = paginate("iam-lookup iam.ListRoles", self.client("iam"), "list_roles", "Roles")
        out = {}
        for role in roles:
            if role["RoleName"].startswith("hanat-") and role["RoleName"].endswith(f"-{self.region}-{kind}"):
                try:
                    doc = self._call("iam", "get_role_policy", RoleName=role["RoleName"], PolicyName="hanat")
                except AwsError:
                    continue
                document = doc["PolicyDocument"]
                out[role["RoleName"]] = json.loads(document) if isinstance(document, str) else document
        return out
