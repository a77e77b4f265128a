"""The input limits of dates and the time zones of enrollments."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import cache
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


@cache
def zone_names() -> list[str]:
    """The IANA names to offer: Area/Location names and UTC, in order."""
    names = available_timezones()
    return sorted(
        name for name in names if ("/" in name and not name.startswith(("posix", "right")))
    ) + ["UTC"] * ("UTC" in names)


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
    """The calendar date of `now` (default: this moment) in the time zone named `zone`.
    A patient's "today" is ZoneRule.day / diary_day (docs/domain.md, "Time zone
    changes"): her zone's date, as her zone changes allow."""
    return (now or timezone.now()).astimezone(zone_named(zone)).date()


# Time zone changes (docs/domain.md, "Time zone changes") --------------------------


@dataclass(frozen=True)
class ZoneRule:
    """From `starts_at` on (None: from the start), her diary day is the date in `zone`,
    never before `starts_day`; when the zone's date was already past starts_day at
    starts_at (a jump east by a day or more), the days in between each get a share of
    that date's rest: day starts_day + i starts at splits[i - 1]."""

    zone: str
    starts_at: dt.datetime | None = None
    starts_day: dt.date | None = None
    splits: tuple[dt.datetime, ...] = ()

    def day(self, now: dt.datetime) -> dt.date:
        if self.splits and now < self.splits[-1]:
            steps = sum(1 for split in self.splits if split <= now)
            return self.starts_day + dt.timedelta(days=steps)
        day = local_today(self.zone, now)
        if self.starts_day is None:
            return day
        return max(day, self.starts_day + dt.timedelta(days=len(self.splits)))

    def start_of(self, day: dt.date) -> dt.datetime:
        """The first instant whose diary day is `day`, a day after starts_day."""
        steps = (day - self.starts_day).days if self.starts_day else 0
        if 0 < steps <= len(self.splits):
            return self.splits[steps - 1]
        return midnight(self.zone, day)


def midnight(zone: str, day: dt.date) -> dt.datetime:
    """The first instant of `day` in `zone`. Where midnight falls in a clock change's
    gap, fold=0 maps it to the moment the clocks jump, the first instant of that date."""
    local = dt.datetime.combine(day, dt.time(0)).replace(tzinfo=zone_named(zone))
    return local.astimezone(dt.UTC)


def zone_rules(timezone_name: str, changes: list[dict] | None) -> list[ZoneRule]:
    """The rules of an enrollment: its zone from the start (the first change's
    from_zone, else `timezone_name`), then one per change (Enrollment.zone_changes)."""
    changes = changes or []
    rules = [ZoneRule(changes[0]["from_zone"] if changes else timezone_name)]
    for change in changes:
        rules.append(
            ZoneRule(
                change["zone"],
                dt.datetime.fromisoformat(change["starts_at"]),
                dt.date.fromisoformat(change["starts_day"]),
                tuple(dt.datetime.fromisoformat(split) for split in change["splits"]),
            )
        )
    return rules


def rule_at(rules: list[ZoneRule], now: dt.datetime | None = None) -> ZoneRule:
    """The rule in force at `now` (default: this moment): the last one that has
    started (rules are in order of starts_at; the first has none)."""
    now = now or timezone.now()
    in_force = rules[0]
    for rule in rules[1:]:
        if rule.starts_at <= now:
            in_force = rule
    return in_force


def diary_day(rules: list[ZoneRule], now: dt.datetime | None = None) -> dt.date:
    """Her diary day at `now` (default: this moment): the one home of a patient's
    "today" (Enrollment.local_today)."""
    now = now or timezone.now()
    return rule_at(rules, now).day(now)


def next_rule(rules: list[ZoneRule], zone: str, now: dt.datetime) -> ZoneRule:
    """The rule a change to `zone` made at `now` adds (docs/domain.md, "Time zone
    changes"): while her diary day is D, the new zone counts from day F = D + 1, which
    starts when D ends by the rule in force (E). From E her day is the date in `zone`,
    never before F. If that date is already past F at E (F + j, a jump east by a day or
    more), the rest of that date (E to its midnight) is shared equally by F .. F + j, so
    no day is skipped. Rules not yet in force at `now` are replaced: left out."""
    in_force = rule_at(rules, now)
    first = in_force.day(now) + dt.timedelta(days=1)
    starts_at = in_force.start_of(first)
    ahead = (local_today(zone, starts_at) - first).days
    splits: tuple[dt.datetime, ...] = ()
    if ahead > 0:
        rest = midnight(zone, first + dt.timedelta(days=ahead + 1)) - starts_at
        share = rest / (ahead + 1)
        # Whole seconds, at least one apart.
        splits = tuple(
            starts_at + dt.timedelta(seconds=max(i, int((share * i).total_seconds())))
            for i in range(1, ahead + 1)
        )
    return ZoneRule(zone, starts_at, first, splits)


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
