"""lab.environ.environ_set: the keys given are set for the block and put back after it (their old value,
or removed), also when the block raises; variables it was not given are left as they are."""
from __future__ import annotations

import os
from contextlib import nullcontext

import pytest

from lab.environ import environ_set

CASES = {
    # id: (value before the block or None, value set in the block)
    "a-variable-that-was-set-gets-its-old-value-back": ("before", "during"),
    "a-variable-that-was-unset-is-removed-again": (None, "during"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("raises", [False, True], ids=["block-ends", "block-raises"])
def test_the_key_is_set_in_the_block_and_restored_after(monkeypatch, case, raises):
    before, during = CASES[case]
    key, other = "HANAT_TEST_ENVIRON_KEY", "HANAT_TEST_ENVIRON_OTHER"
    monkeypatch.delenv(other, raising=False)
    if before is None:
        monkeypatch.delenv(key, raising=False)
    else:
        monkeypatch.setenv(key, before)
    with pytest.raises(RuntimeError) if raises else nullcontext(), environ_set({key: during}):
        assert os.environ[key] == during
        os.environ[other] = "set in the block by someone else"
        if raises:
            raise RuntimeError("the block failed")
    assert os.environ.get(key) == before
    assert os.environ.get(other) == "set in the block by someone else"   # not its key: left alone
    monkeypatch.delenv(other)

