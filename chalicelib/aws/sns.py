"""SNS adapter: publish to the stack's alert topic (and the alert sink that does it); the topic and its
e-mail subscriptions (stack builder)."""
from __future__ import annotations

from ..alerts import Alert, format_body, format_subject
from ..topology import Topology
from .calls import absent_is_none, aws_call, paginate


def publish(sns_client, topic_arn: str, subject: str, message: str,
            attributes: dict[str, str] | None = None) -> str:
    """Publish one message; returns its MessageId. String attributes allow subscription filters."""
    kwargs = {"TopicArn": topic_arn, "Subject": subject, "Message": message}
    if attributes:
        kwargs["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v}
                                       for k, v in attributes.items()}
    return aws_call(f"sns.Publish {topic_arn}", sns_client.publish, **kwargs)["MessageId"]


class SnsAlertSink:
    """AlertSink (chalicelib.service.deps) publishing each alert to the stack's topic, with the
    attribute ``alert_type`` to filter on. Publish failures raise AwsError: the caller decides
    whether a lost alert stops its run."""

    def __init__(self, sns_client, topic_arn: str, topology: Topology | None = None):
        self.sns = sns_client
        self.topic_arn = topic_arn
        self.topology = topology

    def __call__(self, alert: Alert) -> None:
        publish(self.sns, self.topic_arn, format_subject(alert, self.topology),
                format_body(alert, self.topology), attributes={"alert_type": alert.type})


def find_topic(sns, name: str) -> str | None:
    for topic in paginate("sns.ListTopics", sns, "list_topics", "Topics"):
        if topic["TopicArn"].rsplit(":", 1)[-1] == name:
            return topic["TopicArn"]
    return None


def topic_tags(sns, topic_arn: str) -> list[dict]:
    return aws_call(f"sns.ListTagsForResource {topic_arn}", sns.list_tags_for_resource,
                    ResourceArn=topic_arn)["Tags"]


def create_topic(sns, name: str, tags: list[dict]) -> str:
    return aws_call(f"sns.CreateTopic {name}", sns.create_topic, Name=name, Tags=tags)["TopicArn"]


def subscriptions(sns, topic_arn: str) -> list[dict]:
    return paginate(f"sns.ListSubscriptionsByTopic {topic_arn}", sns, "list_subscriptions_by_topic",
                   "Subscriptions", TopicArn=topic_arn)


def subscribe_email(sns, topic_arn: str, email: str) -> None:
    aws_call(f"sns.Subscribe {email}", sns.subscribe, TopicArn=topic_arn, Protocol="email", Endpoint=email)


def unsubscribe(sns, subscription_arn: str) -> None:
    absent_is_none(f"sns.Unsubscribe {subscription_arn}", sns.unsubscribe, SubscriptionArn=subscription_arn)


def delete_topic(sns, topic_arn: str) -> None:
    aws_call(f"sns.DeleteTopic {topic_arn}", sns.delete_topic, TopicArn=topic_arn)
