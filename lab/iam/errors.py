"""The one error the IAM evaluator raises: a request or policy it does not model (never a silent allow)."""
from __future__ import annotations

from chalicelib.errors import HanatError


class NotModelled(HanatError):
    """An action, resource type, condition key or operator the evaluator cannot decide faithfully."""
