"""What makes the tests' AWS emulation cheap: a smaller moto AMI catalogue and one botocore loader.

``prepare()`` runs in tests/conftest.py before anything imports moto:

- moto builds an EC2 region (each ``mock_aws()``, each moto server reset) by creating every AMI of its
  catalogue with a snapshot and a volume: its 44 base images, ~37 Amazon Linux images of the region and
  ~1,300 ECS-optimized images, about a second of CPU each time. hanat never uses an ECS image, so the
  tests' catalogue (``MOTO_AMIS_PATH``, read by in-process moto and inherited by the moto servers the
  tests start) is the base images plus the Amazon Linux images of the regions the tests use, which
  hold the images the SSM aliases ``/aws/service/ami-amazon-linux-latest/*`` name.
- Every boto3 Session hanat makes (one per client, chalicelib/aws/clients.py) builds a botocore
  session whose loader parses endpoints.json and the service models again (~0.1 s per client, most
  of an in-process CLI call). The tests' processes share one loader per data path: the files are
  read-only and botocore keeps their parsed form per loader.
"""
from __future__ import annotations

import functools
import gzip
import json
import os
import tempfile
from importlib import metadata, resources

import botocore.loaders
import botocore.session

REGIONS = ("ap-northeast-1", "us-east-1", "eu-west-1", "eu-north-1", "sa-east-1")


def _moto_resource(path: str) -> list[dict]:
    data = resources.files("moto").joinpath(f"ec2/resources/{path}.gz").read_bytes()
    return json.loads(gzip.decompress(data))


def ami_catalogue() -> str:
    """The path of the tests' AMI catalogue (written once per moto version, atomically)."""
    path = os.path.join(tempfile.gettempdir(), f"hanat-tests-amis-moto-{metadata.version('moto')}.json")
    if not os.path.exists(path):
        amis = {ami["ami_id"]: ami for ami in _moto_resource("amis.json")}
        for region in REGIONS:
            amis.update((ami["ami_id"], ami) for ami in _moto_resource(f"latest_amis/{region}.json"))
        partial = f"{path}.{os.getpid()}"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(list(amis.values()), f)
        os.replace(partial, path)
    return path


def prepare() -> None:
    """Point moto at the small AMI catalogue and share botocore's loader (before moto is imported)."""
    os.environ.setdefault("MOTO_AMIS_PATH", ami_catalogue())
    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)
