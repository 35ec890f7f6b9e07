"""Probes: TCP and HTTP(S) checks of a NAT path (run in a zone's probe subnet, or as the control probe)."""
from .checks import run_checks  # noqa: F401
from .targets import Target, parse_targets  # noqa: F401
