"""NAT replacement, the pure part: the state machine (record + facts + now -> next action) and the
triggers that start a replacement without anyone asking. No AWS, no clock reads: the use-cases that
act on it live in ``chalicelib.service.replacement``."""
from . import machine, triggers

__all__ = ["machine", "triggers"]
