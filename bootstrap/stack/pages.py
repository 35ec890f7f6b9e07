"""Paginated AWS reads as one aws_call (retried and converted to AwsError as a whole)."""
from __future__ import annotations

from chalicelib.aws.calls import aws_call


def collect(operation: str, client, method: str, key: str, /, **kwargs) -> list[dict]:
    """Every item under ``key`` across all pages of ``client.method(**kwargs)``."""
    def run() -> list[dict]:
        items: list[dict] = []
        for page in client.get_paginator(method).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items
    return aws_call(operation, run)
