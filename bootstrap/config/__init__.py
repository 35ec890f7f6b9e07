"""Configuration: load (TOML or DupsWorks settings.cfg), validate once, freeze into ``HanatConfig``."""
from .loader import load_config  # noqa: F401
from .schema import (  # noqa: F401
    AdminConfig,
    AlertsConfig,
    HanatConfig,
    NameTemplates,
    NatConfig,
    PermissionConfig,
    StackConfig,
    ZoneConfig,
)
