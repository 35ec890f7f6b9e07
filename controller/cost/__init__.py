"""``hanat cost``: what the configured stack costs per month, next to NAT Gateways in the same zones.

prices.toml (dated price table) -> prices.py (load, check) -> model.py (pure arithmetic)
-> render.py (rich table); estimate.py joins a loaded config to the model.
"""
from .estimate import estimate_for_config  # noqa: F401
from .model import CostEstimate, Usage, estimate  # noqa: F401
from .prices import PriceTable, RegionPrices, load_prices  # noqa: F401
