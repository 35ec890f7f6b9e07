"""The lab's moto refuses spot launches on request (issue 20: the spot-capacity drill): only RunInstances
asking for the spot market, answered as EC2 answers it (InsufficientInstanceCapacity, a server error in the
EC2 query protocol's error document), counted; on-demand launches and other calls pass."""
from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest

from lab.aws.moto_server import ApiFaults, FaithfulMoto, no_spot_capacity_document

EC2_AUTH = "AWS4-HMAC-SHA256 Credential=AK/20261205/ap-northeast-1/ec2/aws4_request, SignedHeaders=x"


def call(moto: FaithfulMoto, params: dict) -> tuple[str, bytes]:
    body = urlencode(params).encode()
    environ = {"PATH_INFO": "/", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
               "HTTP_AUTHORIZATION": EC2_AUTH, "wsgi.input": io.BytesIO(body)}
    seen: dict = {}
    payload = b"".join(moto(environ, lambda status, headers, exc_info=None: seen.update(status=status)))
    return seen["status"], payload


def app(environ, start_response):   # stands for moto's own app: every call it gets launches
    start_response("200 OK", [("Content-Type", "text/xml")])
    return [b"<RunInstancesResponse/>"]


SPOT = {"Action": "RunInstances", "InstanceMarketOptions.MarketType": "spot", "MinCount": "1", "MaxCount": "1"}
ON_DEMAND = {"Action": "RunInstances", "MinCount": "1", "MaxCount": "1"}


def test_spot_launches_are_refused_only_while_spot_capacity_is_off():
    moto = FaithfulMoto(app)
    assert call(moto, SPOT)[0].startswith("200")                      # capacity by default
    moto.faults.configure({"spot_capacity": False})
    status, body = call(moto, SPOT)
    assert status.startswith("500") and b"<Code>InsufficientInstanceCapacity</Code>" in body
    assert call(moto, ON_DEMAND)[0].startswith("200")                 # the fallback gets through
    assert call(moto, {"Action": "DescribeInstances"})[0].startswith("200")
    assert moto.faults.state()["spot_refused"] == 1
    moto.faults.configure({"spot_capacity": True})
    assert call(moto, SPOT)[0].startswith("200")


def test_no_spot_document_is_ec2s_error_shape():
    body = no_spot_capacity_document().decode()
    assert "<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code>" in body and "<RequestID>" in body


def test_bad_spot_switch_names_the_value():
    faults = ApiFaults()
    with pytest.raises(TypeError, match="'no'"):
        faults.configure({"spot_capacity": "no"})
    assert faults.spot_capacity is True
