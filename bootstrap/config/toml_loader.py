"""TOML configuration files: syntax only (validation is ``validate.build_config``)."""
from __future__ import annotations

import tomllib

from chalicelib.errors import ConfigError


def parse_toml(text: str, *, source: str) -> dict:
    """The parsed document; a syntax error becomes a ConfigError naming the file and line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = ""
        if "[PersonalSettings]" in text:
            hint = " (this looks like a DupsWorks settings.cfg: give the file a .cfg name to import it)"
        raise ConfigError(f"{source}: TOML syntax error: {exc}{hint}", source=source) from None
