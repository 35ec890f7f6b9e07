"""Maintenance windows and the instance age rule: pure, the clock passed in (epoch seconds, UTC).

Grammar of ``maintenance.window`` (times are UTC)::

    window  = ""                        never (no automatic maintenance)
            | days " " HH:MM "-" HH:MM
    days    = "daily" | item ("," item)*
    item    = day | day "-" day         a range may wrap the week: "Fri-Mon" = Fri, Sat, Sun, Mon
    day     = Mon | Tue | Wed | Thu | Fri | Sat | Sun      (any letter case)

The days are the days the window *opens*. When the end time is earlier than the start time the
window crosses midnight and closes on the next day: ``"Sat 23:00-01:00"`` is Saturday 23:00 to
Sunday 01:00. Start and end must differ (a window is 1 minute to 23 h 59 min long). A window
contains its start and not its end.

Examples: ``"Sun 02:00-04:00"``, ``"Sat-Sun 22:00-06:00"``, ``"Mon,Wed,Fri 03:00-03:30"``,
``"daily 01:00-02:00"``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_S = 86_400
WEEK_S = 7 * DAY_S
_EPOCH_WEEKDAY = 3            # 1970-01-01 was a Thursday (Mon = 0)
_TIME = re.compile(r"(\d{2}):(\d{2})")
GRAMMAR = ('"<days> HH:MM-HH:MM" in UTC, days = daily, a day (Mon..Sun), a range (Sat-Sun) '
           'or a comma list (Mon,Wed,Fri); "" = never')


@dataclass(frozen=True)
class Window:
    """When automatic maintenance may run. ``days`` are the weekdays it opens (Mon = 0)."""

    text: str
    days: frozenset[int] = frozenset()
    start_s: int = 0               # seconds after 00:00 UTC
    end_s: int = 0

    @property
    def never(self) -> bool:
        return not self.days

    @property
    def duration_s(self) -> int:
        return (self.end_s - self.start_s) % DAY_S

    def contains(self, now_epoch: float) -> bool:
        """Is the window open at ``now_epoch``?"""
        return self.opened_at(now_epoch) is not None

    def opened_at(self, now_epoch: float) -> float | None:
        """When the opening that contains ``now_epoch`` started (None: the window is closed now). It
        names one opening, so work allowed "once per window" can be remembered by it."""
        for start in self._openings_around(now_epoch):
            if start <= now_epoch < start + self.duration_s:
                return start
        return None

    def next_start(self, now_epoch: float) -> float | None:
        """The first opening at or after ``now_epoch`` (None: the window is never open)."""
        later = [start for start in self._openings_around(now_epoch) if start >= now_epoch]
        return min(later) if later else None

    def _openings_around(self, now_epoch: float) -> list[float]:
        """Openings from the day before ``now_epoch`` to a week after it (enough for both questions)."""
        today = int(now_epoch // DAY_S)
        return [float(day * DAY_S + self.start_s) for day in range(today - 1, today + 8)
                if (day + _EPOCH_WEEKDAY) % 7 in self.days]


NEVER = Window(text="")


def parse_window(text: str) -> Window:
    """The window ``text`` describes; an InputError says what is wrong with it (quoting it)."""
    if not isinstance(text, str):
        raise InputError(f"window must be a string, got {text!r}")
    stripped = text.strip()
    if not stripped:
        return NEVER
    parts = re.sub(r"\s*,\s*", ",", stripped).split()
    if len(parts) != 2:
        raise InputError(f"{text!r} must be {GRAMMAR}")
    days_text, times_text = parts
    problems: list[str] = []
    days = _days(days_text, problems)
    start_s, end_s = _times(times_text, problems)
    if not problems and start_s == end_s:
        problems.append(f"{times_text!r} starts and ends at the same time (a window is 1 min to 23 h 59 min)")
    if problems:
        raise InputError([f"{text!r}: {p}" for p in problems])
    return Window(text=stripped, days=frozenset(days), start_s=start_s, end_s=end_s)


def older_than(launch_epoch: float, now_epoch: float, max_days: int) -> bool:
    """The age rule: launched more than ``max_days`` days before ``now_epoch`` (0 = never too old)."""
    return max_days > 0 and now_epoch - launch_epoch > max_days * DAY_S


def _day(name: str, problems: list[str]) -> int | None:
    for index, day in enumerate(DAYS):
        if name.lower() == day.lower():
            return index
    problems.append(f"{name!r} is not a day (use {', '.join(DAYS)} or daily)")
    return None


def _days(text: str, problems: list[str]) -> set[int]:
    if text.lower() == "daily":
        return set(range(7))
    days: set[int] = set()
    for item in text.split(","):
        ends = item.split("-")
        if len(ends) > 2 or not all(ends):
            problems.append(f"{item!r} is not a day or a day range like Sat-Sun")
            continue
        named = [_day(end, problems) for end in ends]
        if None in named:
            continue
        first, last = named[0], named[-1]
        if len(ends) == 2 and first == last:
            problems.append(f"{item!r} is a range of one day: write {DAYS[first]}")
            continue
        days.update((first + step) % 7 for step in range((last - first) % 7 + 1))
    return days


def _times(text: str, problems: list[str]) -> tuple[int, int]:
    ends = text.split("-")
    if len(ends) != 2:
        problems.append(f"{text!r} must be HH:MM-HH:MM (UTC)")
        return 0, 0
    seconds = []
    for end in ends:
        match = _TIME.fullmatch(end)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            problems.append(f"{end!r} is not a time HH:MM (00:00 to 23:59)")
            seconds.append(0)
        else:
            seconds.append(int(match[1]) * 3600 + int(match[2]) * 60)
    return seconds[0], seconds[1]
