"""Maintenance windows and the age rule (chalicelib/engine/window.py): grammar, contains, next_start."""
from __future__ import annotations

import calendar

import pytest

from chalicelib.engine.window import DAY_S, NEVER, older_than, parse_window
from chalicelib.errors import InputError


def utc(text: str) -> float:
    """'2026-11-29 02:00' (UTC) as epoch seconds. 2026-11-29 is a Sunday."""
    return float(calendar.timegm(__import__("time").strptime(text, "%Y-%m-%d %H:%M")))


def test_the_reference_dates_are_the_weekdays_the_cases_say():
    assert __import__("time").gmtime(utc("2026-11-29 00:00")).tm_wday == 6    # Sunday
    assert __import__("time").gmtime(utc("2026-11-23 00:00")).tm_wday == 0    # Monday


PARSED = {
    # text: (days the window opens, Mon = 0, start "HH:MM", duration in minutes)
    "Sun 02:00-04:00": ({6}, "02:00", 120),
    "sun 02:00-04:00": ({6}, "02:00", 120),
    "Sat-Sun 22:00-06:00": ({5, 6}, "22:00", 480),
    "Fri-Mon 01:00-02:00": ({4, 5, 6, 0}, "01:00", 60),
    "Mon,Wed,Fri 03:00-03:30": ({0, 2, 4}, "03:00", 30),
    "Mon, Wed 03:00-03:30": ({0, 2}, "03:00", 30),
    "Mon-Fri,Sun 00:00-23:59": ({0, 1, 2, 3, 4, 6}, "00:00", 1439),
    "daily 23:30-00:30": (set(range(7)), "23:30", 60),
    "  Daily   12:00-12:01  ": (set(range(7)), "12:00", 1),
}


@pytest.mark.parametrize("text", PARSED)
def test_window_grammar(text):
    days, start, minutes = PARSED[text]
    window = parse_window(text)
    hours, mins = map(int, start.split(":"))
    assert (set(window.days), window.start_s, window.duration_s) == (days, hours * 3600 + mins * 60, minutes * 60)
    assert window.text == text.strip() and not window.never


def test_empty_window_is_never_open():
    for text in ("", "   "):
        window = parse_window(text)
        assert window == NEVER and window.never
        assert not window.contains(utc("2026-11-29 03:00"))
        assert window.next_start(utc("2026-11-29 03:00")) is None


BAD = {
    "one-word": ("Sun", "'Sun' must be \"<days> HH:MM-HH:MM\" in UTC"),
    "three-words": ("Sun 02:00 04:00", "'Sun 02:00 04:00' must be \"<days> HH:MM-HH:MM\""),
    "full-day-name": ("Sunday 02:00-04:00", "'Sunday 02:00-04:00': 'Sunday' is not a day (use Mon, Tue, Wed"),
    "one-day-range": ("Sun-Sun 02:00-04:00", "'Sun-Sun 02:00-04:00': 'Sun-Sun' is a range of one day: write Sun"),
    "open-range": ("Sat- 02:00-04:00", "'Sat- 02:00-04:00': 'Sat-' is not a day or a day range like Sat-Sun"),
    "three-part-range": ("Mon-Tue-Wed 02:00-04:00", "'Mon-Tue-Wed' is not a day or a day range"),
    "empty-list-item": ("Mon,,Tue 02:00-04:00", "'' is not a day or a day range"),
    "one-digit-hour": ("Sun 2:00-04:00", "'2:00' is not a time HH:MM (00:00 to 23:59)"),
    "hour-24": ("Sun 22:00-24:00", "'24:00' is not a time HH:MM"),
    "minute-60": ("Sun 02:60-04:00", "'02:60' is not a time HH:MM"),
    "no-end": ("Sun 02:00", "'02:00' must be HH:MM-HH:MM (UTC)"),
    "same-start-and-end": ("daily 02:00-02:00", "'02:00-02:00' starts and ends at the same time"),
    "not-a-string": (7, "window must be a string, got 7"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_window_names_the_offending_part(case):
    text, expected = BAD[case]
    with pytest.raises(InputError) as info:
        parse_window(text)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_every_bad_part_is_named_at_once():
    with pytest.raises(InputError) as info:
        parse_window("Sunday 2:00-25:00")
    assert len(info.value.problems) == 3, info.value.problems


CONTAINS = {
    # window, UTC time, open?   (2026-11-29 is a Sunday, 2026-11-30 a Monday)
    "before-start": ("Sun 02:00-04:00", "2026-11-29 01:59", False),
    "at-start": ("Sun 02:00-04:00", "2026-11-29 02:00", True),
    "inside": ("Sun 02:00-04:00", "2026-11-29 03:59", True),
    "at-end-is-closed": ("Sun 02:00-04:00", "2026-11-29 04:00", False),
    "other-day": ("Sun 02:00-04:00", "2026-11-28 03:00", False),
    "midnight-crossing-before-midnight": ("Sat 23:00-01:00", "2026-11-28 23:30", True),
    "midnight-crossing-after-midnight": ("Sat 23:00-01:00", "2026-11-29 00:30", True),
    "midnight-crossing-end": ("Sat 23:00-01:00", "2026-11-29 01:00", False),
    "midnight-crossing-wrong-start-day": ("Sat 23:00-01:00", "2026-11-29 23:30", False),
    "week-wrap-sun-to-mon": ("Sun 23:00-02:00", "2026-11-30 01:59", True),
    "range-wrapping-the-week": ("Fri-Mon 01:00-02:00", "2026-11-30 01:30", True),
    "range-wrapping-not-tuesday": ("Fri-Mon 01:00-02:00", "2026-12-01 01:30", False),
    "daily": ("daily 01:00-02:00", "2026-12-02 01:00", True),
}


@pytest.mark.parametrize("case", CONTAINS)
def test_contains(case):
    text, when, expected = CONTAINS[case]
    assert parse_window(text).contains(utc(when)) is expected


NEXT_START = {
    # window, now, next opening at or after now
    "later-today": ("Sun 02:00-04:00", "2026-11-29 01:00", "2026-11-29 02:00"),
    "exactly-at-start": ("Sun 02:00-04:00", "2026-11-29 02:00", "2026-11-29 02:00"),
    "inside-gives-next-week": ("Sun 02:00-04:00", "2026-11-29 02:01", "2026-12-06 02:00"),
    "from-monday": ("Sun 02:00-04:00", "2026-11-30 10:00", "2026-12-06 02:00"),
    "list-picks-the-nearest": ("Mon,Thu 03:00-04:00", "2026-11-30 05:00", "2026-12-03 03:00"),
    "daily-tomorrow": ("daily 01:00-02:00", "2026-11-29 01:30", "2026-11-30 01:00"),
    "midnight-crossing": ("Sat 23:00-01:00", "2026-11-29 00:30", "2026-12-05 23:00"),
}


@pytest.mark.parametrize("case", NEXT_START)
def test_next_start(case):
    text, now, expected = NEXT_START[case]
    window = parse_window(text)
    got = window.next_start(utc(now))
    assert got == utc(expected)
    assert window.contains(got)


AGES = {
    # launched days before now, max_instance_age_days, older?
    "younger": (29.9, 30, False),
    "exactly-the-limit": (30, 30, False),
    "a-second-over": (30 + 1 / DAY_S, 30, True),
    "much-older": (400, 30, True),
    "zero-means-never": (10_000, 0, False),
    "one-day": (1.5, 1, True),
}


@pytest.mark.parametrize("case", AGES)
def test_older_than(case):
    age_days, max_days, expected = AGES[case]
    now = utc("2026-11-29 02:00")
    assert older_than(now - age_days * DAY_S, now, max_days) is expected


OPENED_AT = {
    # (window, now) -> the start of the opening that contains now (None: closed)
    ("Sun 02:00-04:00", "2026-11-29 02:00"): "2026-11-29 02:00",
    ("Sun 02:00-04:00", "2026-11-29 03:59"): "2026-11-29 02:00",
    ("Sun 02:00-04:00", "2026-11-29 04:00"): None,
    ("Sun 02:00-04:00", "2026-11-29 01:59"): None,
    ("Sat 23:00-01:00", "2026-11-29 00:30"): "2026-11-28 23:00",   # crosses midnight: opened Saturday
    ("daily 23:30-00:30", "2026-11-29 23:45"): "2026-11-29 23:30",
    ("", "2026-11-29 02:00"): None,
}


@pytest.mark.parametrize("window,now", list(OPENED_AT), ids=[f"{w or 'never'}@{n}" for w, n in OPENED_AT])
def test_opened_at_names_the_opening_that_contains_now(window, now):
    expected = OPENED_AT[(window, now)]
    got = parse_window(window).opened_at(utc(now))
    assert got == (None if expected is None else utc(expected))
    assert parse_window(window).contains(utc(now)) is (expected is not None)
