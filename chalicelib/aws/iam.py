"""IAM adapter of the stack builder: the instances' role and profile, the session policies of the
users listed in ``[[permissions]]`` and their tags. Look-ups return None only for "does not exist"."""
from __future__ import annotations

from .. import naming
from .calls import absent_is_none, aws_call, paginate
from .tags import has_stack_tag

# A new role or policy takes a moment to be usable by the next call (IAM is eventually consistent).
IAM_NOT_YET_VISIBLE = ("NoSuchEntity", "MalformedPolicyDocument")


def get_role(iam, name: str) -> dict | None:
    resp = absent_is_none(f"iam.GetRole {name}", iam.get_role, RoleName=name)
    return resp["Role"] if resp else None


def role_tags(iam, name: str) -> list[dict]:
    return aws_call(f"iam.ListRoleTags {name}", iam.list_role_tags, RoleName=name)["Tags"]


def get_role_policy(iam, role: str, policy: str) -> dict | None:
    resp = absent_is_none(f"iam.GetRolePolicy {role}", iam.get_role_policy, RoleName=role, PolicyName=policy)
    return resp["PolicyDocument"] if resp else None


def create_role(iam, name: str, trust_policy: str, tags: list[dict]) -> dict:
    return aws_call(f"iam.CreateRole {name}", iam.create_role, RoleName=name,
                    AssumeRolePolicyDocument=trust_policy, Tags=tags)["Role"]


def put_role_policy(iam, role: str, policy: str, document: str) -> None:
    aws_call(f"iam.PutRolePolicy {role}", iam.put_role_policy, RoleName=role, PolicyName=policy,
             PolicyDocument=document, retry_on=IAM_NOT_YET_VISIBLE)


def get_instance_profile(iam, name: str) -> dict | None:
    resp = absent_is_none(f"iam.GetInstanceProfile {name}", iam.get_instance_profile, InstanceProfileName=name)
    return resp["InstanceProfile"] if resp else None


def create_instance_profile(iam, name: str, tags: list[dict]) -> dict:
    return aws_call(f"iam.CreateInstanceProfile {name}", iam.create_instance_profile,
                    InstanceProfileName=name, Tags=tags)["InstanceProfile"]


def add_role_to_instance_profile(iam, profile: str, role: str) -> None:
    aws_call(f"iam.AddRoleToInstanceProfile {profile}", iam.add_role_to_instance_profile,
             InstanceProfileName=profile, RoleName=role, retry_on=IAM_NOT_YET_VISIBLE)


def get_user(iam, name: str) -> dict | None:
    resp = absent_is_none(f"iam.GetUser {name}", iam.get_user, UserName=name)
    return resp["User"] if resp else None


def user_tags(iam, name: str) -> list[dict]:
    return aws_call(f"iam.ListUserTags {name}", iam.list_user_tags, UserName=name)["Tags"]


def attached_user_policies(iam, name: str) -> list[str]:
    attached = paginate(f"iam.ListAttachedUserPolicies {name}", iam, "list_attached_user_policies",
                       "AttachedPolicies", UserName=name)
    return [p["PolicyArn"] for p in attached]


def get_policy(iam, arn: str) -> dict | None:
    resp = absent_is_none(f"iam.GetPolicy {arn}", iam.get_policy, PolicyArn=arn)
    return resp["Policy"] if resp else None


def policy_document(iam, arn: str, version: str) -> dict:
    return aws_call(f"iam.GetPolicyVersion {arn}", iam.get_policy_version, PolicyArn=arn,
                    VersionId=version)["PolicyVersion"]["Document"]


def create_policy(iam, name: str, document: str, tags: list[dict]) -> dict:
    return aws_call(f"iam.CreatePolicy {name}", iam.create_policy, PolicyName=name, PolicyDocument=document,
                    Tags=tags)["Policy"]


def new_policy_version(iam, arn: str, document: str) -> None:
    """Make ``document`` the default version (IAM keeps at most 5: drop the oldest non-default)."""
    versions = paginate(f"iam.ListPolicyVersions {arn}", iam, "list_policy_versions", "Versions", PolicyArn=arn)
    old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    if len(versions) >= 5 and old:
        aws_call(f"iam.DeletePolicyVersion {arn}", iam.delete_policy_version, PolicyArn=arn,
                 VersionId=old[0]["VersionId"])
    aws_call(f"iam.CreatePolicyVersion {arn}", iam.create_policy_version, PolicyArn=arn,
             PolicyDocument=document, SetAsDefault=True)


def attach_user_policy(iam, user: str, arn: str) -> None:
    aws_call(f"iam.AttachUserPolicy {user}", iam.attach_user_policy, UserName=user, PolicyArn=arn,
             retry_on=IAM_NOT_YET_VISIBLE)


def tag_user(iam, user: str, key: str, value: str) -> None:
    aws_call(f"iam.TagUser {user}", iam.tag_user, UserName=user, Tags=[{"Key": key, "Value": value}])


def untag_user(iam, user: str, key: str) -> None:
    aws_call(f"iam.UntagUser {user}", iam.untag_user, UserName=user, TagKeys=[key])


def tagged_policies(iam, stack: str) -> list[dict]:
    """Customer managed policies carrying the stack tag (name prefix narrows the scan)."""
    prefix = naming.resource_name(stack, "")
    found = []
    for policy in paginate("iam.ListPolicies", iam, "list_policies", "Policies", Scope="Local"):
        if policy["PolicyName"].startswith(prefix):
            tags = aws_call("iam.ListPolicyTags", iam.list_policy_tags, PolicyArn=policy["Arn"])["Tags"]
            if has_stack_tag(tags, stack):
                found.append(policy)
    return found


def policy_users(iam, arn: str) -> list[str]:
    users = paginate(f"iam.ListEntitiesForPolicy {arn}", iam, "list_entities_for_policy", "PolicyUsers",
                    PolicyArn=arn, EntityFilter="User")
    return [u["UserName"] for u in users]


def detach_user_policy(iam, user: str, arn: str) -> None:
    absent_is_none(f"iam.DetachUserPolicy {user}", iam.detach_user_policy, UserName=user, PolicyArn=arn)


def delete_policy(iam, arn: str) -> None:
    for version in paginate(f"iam.ListPolicyVersions {arn}", iam, "list_policy_versions", "Versions",
                           PolicyArn=arn):
        if not version["IsDefaultVersion"]:
            aws_call(f"iam.DeletePolicyVersion {arn}", iam.delete_policy_version, PolicyArn=arn,
                     VersionId=version["VersionId"])
    absent_is_none(f"iam.DeletePolicy {arn}", iam.delete_policy, PolicyArn=arn)


def delete_role_and_profile(iam, role: str | None, profile: dict | None) -> None:
    """Instance profile first (remove its roles), then the role's inline policies, then the role."""
    if profile:
        for r in profile.get("Roles", []):
            absent_is_none("iam.RemoveRoleFromInstanceProfile", iam.remove_role_from_instance_profile,
                            InstanceProfileName=profile["InstanceProfileName"], RoleName=r["RoleName"])
        absent_is_none("iam.DeleteInstanceProfile", iam.delete_instance_profile,
                        InstanceProfileName=profile["InstanceProfileName"])
    if role:
        for name in paginate(f"iam.ListRolePolicies {role}", iam, "list_role_policies", "PolicyNames",
                            RoleName=role):
            absent_is_none("iam.DeleteRolePolicy", iam.delete_role_policy, RoleName=role, PolicyName=name)
        absent_is_none(f"iam.DeleteRole {role}", iam.delete_role, RoleName=role)
