"""Adopting a VPC hanat did not build: read it (``facts``), check it against the config (``check``),
and write a config from what it holds (``discover``, for ``hanat adopt``). Reads only: the stack
builder's adopted-VPC steps live in ``bootstrap/stack/network/adopted.py``."""
