"""boto3 session/client construction. Honours AWS_PROFILE, AWS_REGION and AWS_ENDPOINT_URL
(boto3 reads the latter natively), so pointing hanat at the local emulator is one variable."""
from __future__ import annotations

import boto3
import botocore.session
from botocore.config import Config

# botocore's own retries are off: the one retry layer is chalicelib/aws/calls.py (throttling and transient
# errors as botocore's standard mode would retry them, bounded by the caller's deadline; no botocore
# callback per call). botocore: "total_max_attempts" counts the first attempt too.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
# The controller's Lambda clients: one attempt can hang at most connect + read timeout (13 s), less than
# the route-write claim margin (service/reconcile.py CLAIM_MARGIN_S), so no write outlives its claim.
# The EC2, DynamoDB, SSM and SNS calls of a sweep answer in well under a second.
CONTROLLER_CLIENT_CONFIG = CLIENT_CONFIG.merge(Config(connect_timeout=3, read_timeout=10))


def make_session(region: str | None = None, profile: str | None = None) -> boto3.session.Session:
    return boto3.session.Session(region_name=region, profile_name=profile)


def make_client(service: str, region: str | None = None, session: boto3.session.Session | None = None,
                config: Config = CLIENT_CONFIG):
    session = session or make_session(region)
    return session.client(service, region_name=region or session.region_name, config=config)



def botocore_session_type() -> type:
    """botocore's Session class: every client, boto3's, chalice's or hanat's, is made by its ``create_client``
    (the lab's IAM hook wraps it: lab/iam/hook.py). Here because only chalicelib.aws imports botocore; the
    Lambda never calls it."""
    return botocore.session.Session
