"""The input limits of dates and the time zones of enrollments."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from diary.trial import phases

logger = logging.getLogger(__name__)


def default_timezone() -> str:
    return settings.TIME_ZONE


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            "%(value)s is not a known time zone; use an IANA name such as America/Los_Angeles.",
            params={"value": value},
        )


def zone_named(name: str) -> ZoneInfo:
    """The time zone of an enrollment's `timezone`. Saved forms validate the name; a bad
    value from elsewhere must not break pages, so the study's default zone stands in and
    the problem is logged."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.error("Unknown time zone %r; using %s", name, settings.TIME_ZONE)
        return ZoneInfo(settings.TIME_ZONE)


def local_today(zone: str, now: dt.datetime | None = None) -> dt.date:
    """Today's diary day in the time zone named `zone` (a patient's "today",
    docs/domain.md): the calendar date of `now` (default: this moment) there."""
    return (now or timezone.now()).astimezone(zone_named(zone)).date()


def study_today(now: dt.datetime | None = None) -> dt.date:
    """Today for the study as a whole, in its time zone (settings.TIME_ZONE): the
    default as-of date of every summary, the day alerts are raised and e-mailed on, and
    the "today" of the input limits."""
    return timezone.localdate(now)


# Input limits (docs/domain.md, "Input limits"): every form, import and command that
# takes a date asks these, so that any date the app accepts can be shown, summarised,
# exported and reminded about.
FIRST_DATE = dt.date(2000, 1, 1)
START_DAYS_AHEAD = 365


def date_problem(
    day: dt.date,
    what: str = "Date",
    *,
    ahead: int | None = None,
    schedule_days: int = 0,
    today: dt.date | None = None,
) -> str | None:
    """Why `day` is out of the input limits, in words that say what to fix (no final
    period: the admin adds one, an import's "line N:" does not), or None. `what` names
    the date ("Start date", "start_date"); `ahead`: at most this many days after today
    (the study's today unless given); `schedule_days`: the schedule that starts on
    `day` must end by 9999-12-31."""
    if day < FIRST_DATE:
        return f"{what} must be on or after {FIRST_DATE.isoformat()}"
    if ahead is not None:
        latest = phases.add_days(today or study_today(), ahead)
        if day > latest:
            return f"{what} must be at most {ahead} days after today ({latest.isoformat()})"
    if schedule_days and (phases.LAST_DAY - day).days < schedule_days - 1:
        return (
            f"{what} {day.isoformat()} is too late: its schedule would end after "
            f"{phases.LAST_DAY.isoformat()}"
        )
    return None


def start_date_problem(
    day: dt.date,
    what: str = "Start date",
    *,
    ahead: int | None = START_DAYS_AHEAD,
    schedule_days: int = 0,
    today: dt.date | None = None,
) -> str | None:
    """date_problem for the first day of a schedule: at most START_DAYS_AHEAD days
    after today."""
    return date_problem(day, what, ahead=ahead, schedule_days=schedule_days, today=today)


def validate_date(value: dt.date) -> None:
    """The input limits of any date field (a diary day, a withdrawal, a pause)."""
    problem = date_problem(value)
    if problem:
        raise ValidationError(f"{problem}.", code="date_limit")


def validate_start_date(value: dt.date) -> None:
    """The input limits of a start date (the schedule's end is checked by
    Enrollment.clean_fields, which knows the arm)."""
    problem = start_date_problem(value)
    if problem:
        raise ValidationError(f"{problem}.", code="date_limit")
