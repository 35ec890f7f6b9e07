"""Environment variables set for a block and put back after it: the lab's one way to point this process
(and the processes it starts) somewhere for a while. Only the keys given are touched: each is restored to
its value before the block, or removed when it had none (other threads' variables are left alone)."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def environ_set(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
