"""Entry point: read a configuration file, pick its format, validate it, return a frozen HanatConfig.

``.toml`` files are hanat's own format; ``.cfg``/``.ini`` files (or text with a
``[PersonalSettings]`` section) are DupsWorks settings.cfg files, imported. No AWS call is made.
"""
from __future__ import annotations

import re
from pathlib import Path

from chalicelib.errors import ConfigError

from .dupsworks import import_dupsworks
from .schema import HanatConfig
from .toml_loader import parse_toml
from .validate import build_config

DUPSWORKS_SUFFIXES = (".cfg", ".ini")
_DUPSWORKS_SECTION = re.compile(r"^\s*\[PersonalSettings\]\s*(#.*)?$", re.MULTILINE)


def load_config(path: str) -> HanatConfig:
    """Load and validate ``path``; raise ConfigError listing every problem (or why it is unreadable)."""
    text = read_config_text(path)
    if is_dupsworks(path, text):
        return import_dupsworks(text, source=path)
    return build_config(parse_toml(text, source=path), source=path)


def read_config_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", source=path) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a configuration file", source=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})", source=path) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}", source=path) from None


def is_dupsworks(path: str, text: str) -> bool:
    """By name first (.toml is TOML, .cfg/.ini is settings.cfg), then by content."""
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        return False
    return suffix in DUPSWORKS_SUFFIXES or bool(_DUPSWORKS_SECTION.search(text))
