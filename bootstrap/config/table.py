"""Reading one configuration table: typed getters that report a problem (named by its key) and go on.

``Problems`` collects every problem, each prefixed by the key it is about; ``key_names`` lets an
importer show its own key names (e.g. ``PersonalSettings.vpc_cidr`` for ``stack.vpc_cidr``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


class Problems:
    """Collects problems, each prefixed by the key it is about (shown under the importer's name)."""

    def __init__(self, key_names: Mapping[str, str] | None = None, initial: Sequence[str] = ()):
        self.key_names = dict(key_names or {})
        self.items: list[str] = list(initial)

    def name(self, path: str) -> str:
        return self.key_names.get(path, path)

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.name(path)} {message}")


def describe(value: Any) -> str:
    """How a wrong value is quoted in a message ("string '5'", "boolean true", "a list")."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class Table:
    """One table being read: typed getters that report (not raise) and return None when invalid."""

    def __init__(self, problems: Problems, path: str, data: Any, known: set[str]):
        self.problems, self.path = problems, path
        self.is_table = isinstance(data, dict)
        self.data: dict = data if self.is_table else {}
        if not self.is_table:
            problems.add(path, f"must be a table, got {describe(data)}")
        for key in self.data:
            if key not in known:
                problems.items.append(f"unknown key {problems.name(self.key(key))}")

    def key(self, key: str) -> str:
        return f"{self.path}.{key}"

    def _raw(self, key: str, default: Any, required: bool) -> tuple[bool, Any]:
        if key in self.data:
            return True, self.data[key]
        if required and self.is_table:   # a non-table was reported once already
            self.problems.add(self.key(key), "is required")
        return False, default

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        present, value = self._raw(key, default, required)
        if present and not isinstance(value, str):
            self.problems.add(self.key(key), f"must be a string, got {describe(value)}")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool | None:
        present, value = self._raw(key, default, False)
        if present and not isinstance(value, bool):
            self.problems.add(self.key(key), f"must be true or false, got {describe(value)}")
            return None
        return value

    def integer(self, key: str, default: int, *, minimum: int) -> int | None:
        present, value = self._raw(key, default, False)
        if not present:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            self.problems.add(self.key(key), f"must be {kind}, got {describe(value)}")
            return None
        return value

    def number(self, key: str, default: float, *, above: float | None = None, at_least: float | None = None,
               at_most: float | None = None) -> float | None:
        present, value = self._raw(key, default, False)
        if not present:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problems.add(self.key(key), f"must be a number (seconds), got {describe(value)}")
            return None
        if above is not None and not value > above:
            self.problems.add(self.key(key), f"must be a number > {above:g}, got {value}")
            return None
        if at_least is not None and not value >= at_least:
            self.problems.add(self.key(key), f"must be a number >= {at_least:g}, got {value}")
            return None
        if at_most is not None and value > at_most:
            self.problems.add(self.key(key), f"must be at most {at_most:g} seconds, got {value}")
            return None
        return value

    def string_list(self, key: str, default: Sequence[str]) -> list[str] | None:
        present, value = self._raw(key, list(default), False)
        if not present:
            return value
        if not isinstance(value, list):
            self.problems.add(self.key(key), f"must be a list of strings, got {describe(value)}")
            return None
        bad = [f"[{i}] {describe(item)}" for i, item in enumerate(value) if not isinstance(item, str)]
        if bad:
            self.problems.add(self.key(key), f"must be a list of strings, got {', '.join(bad)}")
            return None
        return value

    def checked(self, key: str, value: str | None, problem_of) -> str | None:
        """Apply a pure ``rule(value) -> problem | None`` to a string already read."""
        problem = problem_of(value) if value is not None else None
        if problem:
            self.problems.add(self.key(key), f"{value!r} {problem}")
            return None
        return value
