"""The VPC's network, built by hanat or adopted: ``network_for`` chooses once per run; nothing else branches on it."""
from __future__ import annotations

from ..desired import Desired
from ..model import Network
from . import adopted, built


def network_for(desired: Desired) -> Network:
    """The adopted VPC's network when the config names ``stack.vpc_id``, else the one hanat builds."""
    return adopted.NETWORK if desired.adopted is not None else built.NETWORK
