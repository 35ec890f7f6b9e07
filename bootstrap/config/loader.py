"""Entry point: pick the format by file name and content. (Filled by the config work.)"""
from __future__ import annotations

from .model import HanatConfig


def load_config(path: str) -> HanatConfig:  # pragma: no cover - replaced by the real loader
    raise NotImplementedError
