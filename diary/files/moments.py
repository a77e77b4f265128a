"""How the exports write a moment: ISO 8601 to the second with its UTC offset, blank
when there is none. One definition, so the same instant reads the same in every file."""

from __future__ import annotations

import datetime as dt


def local_moment(value: dt.datetime | None, zone) -> str:
    """In the enrollment's time zone (entries, visits, summaries)."""
    if value is None:
        return ""
    return value.astimezone(zone).isoformat(timespec="seconds")


def utc_moment(value: dt.datetime | None) -> str:
    """As stored, in UTC (signatures, queries)."""
    return value.isoformat(timespec="seconds") if value else ""
