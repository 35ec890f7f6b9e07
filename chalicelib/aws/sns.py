"""Adapter: publish to the stack's SNS topic."""
from __future__ import annotations

from .calls import aws_call


def publish(sns_client, topic_arn: str, subject: str, message: str,
            attributes: dict[str, str] | None = None) -> str:
    """Publish one message; returns its MessageId. String attributes allow subscription filters."""
    kwargs = {"TopicArn": topic_arn, "Subject": subject, "Message": message}
    if attributes:
        kwargs["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v}
                                       for k, v in attributes.items()}
    return aws_call(f"sns.Publish {topic_arn}", sns_client.publish, **kwargs)["MessageId"]
