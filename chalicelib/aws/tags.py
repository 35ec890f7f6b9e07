"""AWS tags: the one place that turns EC2-style tag lists into maps and back, and checks the stack tag."""
from __future__ import annotations

from collections.abc import Mapping

from ..naming import STACK_TAG


def tag_map(resource_or_tags: Mapping | list | None) -> dict[str, str]:
    """``{"Key": k, "Value": v}`` lists (or a resource dict with ``Tags``) -> ``{k: v}``."""
    if isinstance(resource_or_tags, Mapping):
        tags = resource_or_tags.get("Tags") or []
        if not isinstance(tags, list):   # an already mapped tag set (Lambda's ListTags)
            return dict(tags)
    else:
        tags = resource_or_tags or []
    return {t["Key"]: t["Value"] for t in tags}


def has_stack_tag(tags: Mapping | list | None, stack: str) -> bool:
    """True when the tags (list, map, or a resource with ``Tags``) carry ``hanat:stack=<stack>``."""
    if isinstance(tags, Mapping) and "Tags" not in tags:
        return tags.get(STACK_TAG) == stack
    return tag_map(tags).get(STACK_TAG) == stack


def tag_spec(resource_type: str, tags: list[dict]) -> list[dict]:
    """TagSpecifications for a create call: the resource is never untagged, not even for a moment."""
    return [{"ResourceType": resource_type, "Tags": tags}]


def stack_filter(stack: str) -> list[dict]:
    """A Describe* filter for this stack's resources."""
    return [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}]
