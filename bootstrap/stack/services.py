"""IAM, SSM, DynamoDB and SNS adapter functions of the stack builder (client in, aws_call inside).

Look-ups return None only for "does not exist" (a fact the planner needs); every other failure
is an AwsError.
"""
from __future__ import annotations

from chalicelib import naming
from chalicelib.aws.calls import aws_call
from chalicelib.errors import AwsError

from .pages import collect

IAM_NOT_YET_VISIBLE = ("NoSuchEntity", "MalformedPolicyDocument")
NO_SUCH = ("NoSuchEntity", "ParameterNotFound", "ResourceNotFoundException", "NotFound",
           "InvalidResourceId")


def _absent_is_none(operation: str, fn, /, **kwargs):
    try:
        return aws_call(operation, fn, **kwargs)
    except AwsError as err:
        if err.code in NO_SUCH:
            return None
        raise


def has_stack_tag(tags: list[dict] | dict | None, stack: str) -> bool:
    if isinstance(tags, dict):
        return tags.get(naming.STACK_TAG) == stack
    return any(t.get("Key") == naming.STACK_TAG and t.get("Value") == stack for t in tags or ())


def ec2_tags_to_map(tags: list[dict]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


# --- SSM -----------------------------------------------------------------------------------------
def resolve_ami(ssm, alias: str) -> str:
    """The AMI id behind an SSM public parameter (e.g. the AL2023 alias)."""
    return aws_call(f"ssm.GetParameter {alias}", ssm.get_parameter, Name=alias)["Parameter"]["Value"]


def get_parameter(ssm, name: str) -> dict | None:
    resp = _absent_is_none(f"ssm.GetParameter {name}", ssm.get_parameter, Name=name)
    return resp["Parameter"] if resp else None


def parameter_tags(ssm, name: str) -> list[dict]:
    return aws_call(f"ssm.ListTagsForResource {name}", ssm.list_tags_for_resource,
                    ResourceType="Parameter", ResourceId=name)["TagList"]


def put_parameter(ssm, name: str, value: str, *, tags: list[dict] | None) -> None:
    """Create with tags (``tags`` given) or overwrite (``tags=None``; AWS refuses both at once)."""
    kwargs = {"Tags": tags} if tags is not None else {"Overwrite": True}
    aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=value, Type="String", **kwargs)


def parameters_under(ssm, prefix: str) -> list[str]:
    params = collect(f"ssm.GetParametersByPath {prefix}", ssm, "get_parameters_by_path", "Parameters",
                     Path=prefix, Recursive=True)
    return [p["Name"] for p in params]


def delete_parameter(ssm, name: str) -> bool:
    return _absent_is_none(f"ssm.DeleteParameter {name}", ssm.delete_parameter, Name=name) is not None


# --- DynamoDB ------------------------------------------------------------------------------------
def describe_table(dynamodb, name: str) -> dict | None:
    resp = _absent_is_none(f"dynamodb.DescribeTable {name}", dynamodb.describe_table, TableName=name)
    return resp["Table"] if resp else None


def table_tags(dynamodb, table_arn: str) -> list[dict]:
    return aws_call(f"dynamodb.ListTagsOfResource {table_arn}", dynamodb.list_tags_of_resource,
                    ResourceArn=table_arn)["Tags"]


def create_table(dynamodb, name: str, tags: list[dict]) -> dict:
    """On-demand table keyed by ``pk`` (S) + ``sk`` (S): the controller's state records."""
    return aws_call(f"dynamodb.CreateTable {name}", dynamodb.create_table, TableName=name,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                    Tags=tags)["TableDescription"]


def table_ttl(dynamodb, name: str) -> dict:
    """The table's TTL setting: ``{"TimeToLiveStatus": ..., "AttributeName": ...}`` (no name when off)."""
    return aws_call(f"dynamodb.DescribeTimeToLive {name}", dynamodb.describe_time_to_live,
                    TableName=name)["TimeToLiveDescription"]


def enable_table_ttl(dynamodb, name: str, attribute: str) -> dict:
    """Let DynamoDB delete items once ``attribute`` (epoch seconds) is past: leases, events, claims."""
    return aws_call(f"dynamodb.UpdateTimeToLive {name}", dynamodb.update_time_to_live, TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})["TimeToLiveSpecification"]


def delete_table(dynamodb, name: str) -> bool:
    return _absent_is_none(f"dynamodb.DeleteTable {name}", dynamodb.delete_table, TableName=name) is not None


# --- SNS -----------------------------------------------------------------------------------------
def find_topic(sns, name: str) -> str | None:
    for topic in collect("sns.ListTopics", sns, "list_topics", "Topics"):
        if topic["TopicArn"].rsplit(":", 1)[-1] == name:
            return topic["TopicArn"]
    return None


def topic_tags(sns, topic_arn: str) -> list[dict]:
    return aws_call(f"sns.ListTagsForResource {topic_arn}", sns.list_tags_for_resource,
                    ResourceArn=topic_arn)["Tags"]


def create_topic(sns, name: str, tags: list[dict]) -> str:
    return aws_call(f"sns.CreateTopic {name}", sns.create_topic, Name=name, Tags=tags)["TopicArn"]


def subscriptions(sns, topic_arn: str) -> list[dict]:
    return collect(f"sns.ListSubscriptionsByTopic {topic_arn}", sns, "list_subscriptions_by_topic",
                   "Subscriptions", TopicArn=topic_arn)


def subscribe_email(sns, topic_arn: str, email: str) -> None:
    aws_call(f"sns.Subscribe {email}", sns.subscribe, TopicArn=topic_arn, Protocol="email", Endpoint=email)


def unsubscribe(sns, subscription_arn: str) -> None:
    _absent_is_none(f"sns.Unsubscribe {subscription_arn}", sns.unsubscribe, SubscriptionArn=subscription_arn)


def delete_topic(sns, topic_arn: str) -> None:
    aws_call(f"sns.DeleteTopic {topic_arn}", sns.delete_topic, TopicArn=topic_arn)


# --- IAM -----------------------------------------------------------------------------------------
def get_role(iam, name: str) -> dict | None:
    resp = _absent_is_none(f"iam.GetRole {name}", iam.get_role, RoleName=name)
    return resp["Role"] if resp else None


def role_tags(iam, name: str) -> list[dict]:
    return aws_call(f"iam.ListRoleTags {name}", iam.list_role_tags, RoleName=name)["Tags"]


def get_role_policy(iam, role: str, policy: str) -> dict | None:
    resp = _absent_is_none(f"iam.GetRolePolicy {role}", iam.get_role_policy, RoleName=role, PolicyName=policy)
    return resp["PolicyDocument"] if resp else None


def create_role(iam, name: str, trust_policy: str, tags: list[dict]) -> dict:
    return aws_call(f"iam.CreateRole {name}", iam.create_role, RoleName=name,
                    AssumeRolePolicyDocument=trust_policy, Tags=tags)["Role"]


def put_role_policy(iam, role: str, policy: str, document: str) -> None:
    aws_call(f"iam.PutRolePolicy {role}", iam.put_role_policy, RoleName=role, PolicyName=policy,
             PolicyDocument=document, retry_on=IAM_NOT_YET_VISIBLE)


def get_instance_profile(iam, name: str) -> dict | None:
    resp = _absent_is_none(f"iam.GetInstanceProfile {name}", iam.get_instance_profile, InstanceProfileName=name)
    return resp["InstanceProfile"] if resp else None


def create_instance_profile(iam, name: str, tags: list[dict]) -> dict:
    return aws_call(f"iam.CreateInstanceProfile {name}", iam.create_instance_profile,
                    InstanceProfileName=name, Tags=tags)["InstanceProfile"]


def add_role_to_instance_profile(iam, profile: str, role: str) -> None:
    aws_call(f"iam.AddRoleToInstanceProfile {profile}", iam.add_role_to_instance_profile,
             InstanceProfileName=profile, RoleName=role, retry_on=IAM_NOT_YET_VISIBLE)


def get_user(iam, name: str) -> dict | None:
    resp = _absent_is_none(f"iam.GetUser {name}", iam.get_user, UserName=name)
    return resp["User"] if resp else None


def user_tags(iam, name: str) -> list[dict]:
    return aws_call(f"iam.ListUserTags {name}", iam.list_user_tags, UserName=name)["Tags"]


def attached_user_policies(iam, name: str) -> list[str]:
    attached = collect(f"iam.ListAttachedUserPolicies {name}", iam, "list_attached_user_policies",
                       "AttachedPolicies", UserName=name)
    return [p["PolicyArn"] for p in attached]


def get_policy(iam, arn: str) -> dict | None:
    resp = _absent_is_none(f"iam.GetPolicy {arn}", iam.get_policy, PolicyArn=arn)
    return resp["Policy"] if resp else None


def policy_document(iam, arn: str, version: str) -> dict:
    return aws_call(f"iam.GetPolicyVersion {arn}", iam.get_policy_version, PolicyArn=arn,
                    VersionId=version)["PolicyVersion"]["Document"]


def create_policy(iam, name: str, document: str, tags: list[dict]) -> dict:
    return aws_call(f"iam.CreatePolicy {name}", iam.create_policy, PolicyName=name, PolicyDocument=document,
                    Tags=tags)["Policy"]


def new_policy_version(iam, arn: str, document: str) -> None:
    """Make ``document`` the default version (IAM keeps at most 5: drop the oldest non-default)."""
    versions = collect(f"iam.ListPolicyVersions {arn}", iam, "list_policy_versions", "Versions", PolicyArn=arn)
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
    for policy in collect("iam.ListPolicies", iam, "list_policies", "Policies", Scope="Local"):
        if policy["PolicyName"].startswith(prefix):
            tags = aws_call("iam.ListPolicyTags", iam.list_policy_tags, PolicyArn=policy["Arn"])["Tags"]
            if has_stack_tag(tags, stack):
                found.append(policy)
    return found


def policy_users(iam, arn: str) -> list[str]:
    users = collect(f"iam.ListEntitiesForPolicy {arn}", iam, "list_entities_for_policy", "PolicyUsers",
                    PolicyArn=arn, EntityFilter="User")
    return [u["UserName"] for u in users]


def detach_user_policy(iam, user: str, arn: str) -> None:
    _absent_is_none(f"iam.DetachUserPolicy {user}", iam.detach_user_policy, UserName=user, PolicyArn=arn)


def delete_policy(iam, arn: str) -> None:
    for version in collect(f"iam.ListPolicyVersions {arn}", iam, "list_policy_versions", "Versions",
                           PolicyArn=arn):
        if not version["IsDefaultVersion"]:
            aws_call(f"iam.DeletePolicyVersion {arn}", iam.delete_policy_version, PolicyArn=arn,
                     VersionId=version["VersionId"])
    _absent_is_none(f"iam.DeletePolicy {arn}", iam.delete_policy, PolicyArn=arn)


def delete_role_and_profile(iam, role: str | None, profile: dict | None) -> None:
    """Instance profile first (remove its roles), then the role's inline policies, then the role."""
    if profile:
        for r in profile.get("Roles", []):
            _absent_is_none("iam.RemoveRoleFromInstanceProfile", iam.remove_role_from_instance_profile,
                            InstanceProfileName=profile["InstanceProfileName"], RoleName=r["RoleName"])
        _absent_is_none("iam.DeleteInstanceProfile", iam.delete_instance_profile,
                        InstanceProfileName=profile["InstanceProfileName"])
    if role:
        for name in collect(f"iam.ListRolePolicies {role}", iam, "list_role_policies", "PolicyNames",
                            RoleName=role):
            _absent_is_none("iam.DeleteRolePolicy", iam.delete_role_policy, RoleName=role, PolicyName=name)
        _absent_is_none(f"iam.DeleteRole {role}", iam.delete_role, RoleName=role)
