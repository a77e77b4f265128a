"""Day-by-day views of one enrollment: where the patient stands, which days are missing.

Works on entries already loaded (one query per page); no database access here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from diary import blinding
from diary.models import DiaryEntry, Enrollment, EnrollmentStatus
from diary.phases import Schedule

MISSED_WINDOW_DAYS = 7


@dataclass
class StatusRow:
    """One line of the physician's patient list."""

    enrollment: Enrollment
    arm: str | None  # None while the reader is blinded
    today: dt.date
    phase_label: str | None
    study_day: int | None
    phase_day: int | None
    last_entry: dt.date | None
    missed_last_7: int | None
    schedule_note: str


def missed_days(enrollment: Enrollment, recorded: set[dt.date], today: dt.date) -> list[dt.date]:
    """Days of the last 7 completed diary days (today - 7 .. today - 1, in the patient's
    time zone) that belong to the enrollment and have no counting entry. Today is not
    counted: it is not over yet."""
    if enrollment.status == EnrollmentStatus.SCREENING:
        return []
    days = (today - dt.timedelta(days=n) for n in range(MISSED_WINDOW_DAYS, 0, -1))
    return [day for day in days if enrollment.contains(day) and day not in recorded]


def current_span(enrollment: Enrollment, schedule: Schedule, today: dt.date):
    """The phase (of `schedule`, as some reader sees it) that the patient is in today,
    None before her start, after her schedule or after her withdrawal."""
    return schedule.span_on(today) if enrollment.contains(today) else None


def _schedule_note(enrollment: Enrollment, today: dt.date) -> str:
    if today < enrollment.start_date:
        return f"Starts {enrollment.start_date:%Y-%m-%d}"
    if enrollment.status == EnrollmentStatus.WITHDRAWN:
        return f"Withdrawn {enrollment.withdrawn_on:%Y-%m-%d}"
    last = enrollment.last_data_day()
    if last is not None and today > last:
        return f"Schedule ended {last:%Y-%m-%d}"
    return ""


def enrollment_status_row(
    enrollment: Enrollment, user, entries: Iterable[DiaryEntry] | None = None
) -> StatusRow:
    """Current phase, study day, last entry and missed days of one enrollment.

    `entries` defaults to the `recent_entries` prefetched by the physician list.
    """
    today = enrollment.local_today()
    schedule = blinding.schedule_for(enrollment, user)
    if entries is None:
        entries = enrollment.recent_entries
    recorded = {entry.date for entry in entries if not entry.voided}
    last_entry = getattr(enrollment, "last_entry", None)
    if last_entry is None and recorded:
        last_entry = max(recorded)
    span = current_span(enrollment, schedule, today)
    missed = None
    if enrollment.status != EnrollmentStatus.SCREENING:
        missed = len(missed_days(enrollment, recorded, today))
    return StatusRow(
        enrollment=enrollment,
        arm=blinding.arm_for(enrollment, user),
        today=today,
        phase_label=span.label if span else None,
        study_day=schedule.study_day(today) if span else None,
        phase_day=span.day_number(today) if span else None,
        last_entry=last_entry,
        missed_last_7=missed,
        schedule_note=_schedule_note(enrollment, today),
    )


def last_week(enrollment, entries, today: dt.date) -> list[dict]:
    """The last 7 diary days up to today: recorded, missing (still fillable or not), or
    not a diary day. For the strip on her diary home."""
    recorded = {entry.date for entry in entries if not entry.voided}
    week = []
    for back in range(6, -1, -1):
        day = today - dt.timedelta(days=back)
        if not enrollment.contains(day):
            state = "none"
        elif day in recorded:
            state = "done"
        elif enrollment.patient_entry_refusal(day, today) is None:
            state = "open"
        else:
            state = "missed"
        week.append({"date": day, "state": state, "is_today": day == today})
    return week


def days_recorded(enrollment: Enrollment, entries) -> dict:
    """How many of her diary days she recorded, for the page that closes her diary."""
    last = enrollment.last_data_day()
    if last is None:
        return {"recorded": 0, "days": 0}
    recorded = {
        entry.date
        for entry in entries
        if not entry.voided and enrollment.start_date <= entry.date <= last
    }
    return {"recorded": len(recorded), "days": (last - enrollment.start_date).days + 1}


@dataclass
class DayRow:
    date: dt.date
    entry: DiaryEntry | None
    phase_label: str | None = None
    study_day: int | None = None
    editable: bool = False


def history_days(
    enrollment: Enrollment, entries, today: dt.date, schedule: Schedule
) -> list[DayRow]:
    """Every day of the enrollment up to today, newest first, with its entry or a gap
    (the patient's history, labels in her language, phases as she may see them). A
    voided entry is a gap."""
    by_date = {entry.date: entry for entry in entries if not entry.voided}
    last = enrollment.last_data_day()
    if last is None:
        return []
    day = min(today, last)
    rows = []
    while day >= enrollment.start_date:
        span = schedule.span_on(day)
        rows.append(
            DayRow(
                date=day,
                entry=by_date.get(day),
                phase_label=span.patient_label() if span else None,
                study_day=schedule.study_day(day),
                editable=enrollment.patient_entry_refusal(day, today) is None,
            )
        )
        day -= dt.timedelta(days=1)
    return rows


@dataclass
class PhaseDays:
    label: str
    start: dt.date
    end: dt.date
    days: int
    elapsed_days: int
    entries: int
    rows: list[DayRow] = field(default_factory=list)

    @property
    def missed(self) -> int:
        return self.elapsed_days - self.entries


def phase_days(
    enrollment: Enrollment, entries, today: dt.date, schedule: Schedule
) -> list[PhaseDays]:
    """The schedule (as the reader sees it) phase by phase, each with its elapsed days
    and their entries."""
    by_date = {entry.date: entry for entry in entries}
    result = []
    for span in schedule:
        elapsed = span.elapsed_days(today, enrollment.withdrawn_on)
        rows = [
            DayRow(date=day, entry=by_date.get(day), study_day=schedule.study_day(day))
            for day in span.dates(until=span.start + dt.timedelta(days=elapsed - 1))
        ]
        result.append(
            PhaseDays(
                label=span.label,
                start=span.start,
                end=span.end,
                days=span.days,
                elapsed_days=elapsed,
                entries=sum(1 for row in rows if row.entry and not row.entry.voided),
                rows=rows,
            )
        )
    return result
