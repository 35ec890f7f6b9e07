"""Where output goes: results on stdout (one JSON object with --json), progress on stderr."""
from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

# Progress, tables meant for people, warnings: stderr, so stdout stays machine-readable.
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def emit_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def progress(message: str) -> None:
    err_console.print(escape(message))


def warn(message: str) -> None:
    # escape: messages quote config text such as "[awscli]" or "zones[1]", which is not markup
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)  # commands stay copyable
