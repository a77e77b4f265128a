"""Day-by-day views of enrollments: where a patient stands, which days are missing, the
compliance calendar.

Works on entries and activity already loaded; no database access here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from diary.entries import window
from diary.entries.models import DiaryEntry
from diary.figures.activity import Activity
from diary.figures.patient_figures import LOW_COMPLIANCE_PCT
from diary.trial import blinding
from diary.trial.models import Enrollment, EnrollmentStatus
from diary.trial.phases import Schedule, add_days


@dataclass
class StatusRow:
    """One line of the physician's patient list, and the head of her page."""

    enrollment: Enrollment
    activity: Activity
    arm: str | None  # None while the reader is blinded
    today: dt.date
    phase_label: str | None
    study_day: int | None
    phase_day: int | None
    schedule_note: str

    @property
    def last_entry(self) -> dt.date | None:
        return self.activity.last_entry

    @property
    def missed_last_7(self) -> int | None:
        return self.activity.missed_7

    @property
    def compliance_14(self) -> float | None:
        return self.activity.compliance_14

    @property
    def low_compliance(self) -> bool:
        return self.compliance_14 is not None and self.compliance_14 < LOW_COMPLIANCE_PCT

    @property
    def open_alerts(self) -> int:
        return self.activity.open_alerts


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


def enrollment_status_row(enrollment: Enrollment, user, activity: Activity) -> StatusRow:
    """Current phase (as `user` sees it), study day, last entry, missed days and
    compliance of one enrollment; `activity` is hers from diary.figures.activity."""
    today = activity.today
    schedule = blinding.schedule_for(enrollment, user)
    span = current_span(enrollment, schedule, today)
    return StatusRow(
        enrollment=enrollment,
        activity=activity,
        arm=blinding.arm_for(enrollment, user),
        today=today,
        phase_label=span.label if span else None,
        study_day=schedule.study_day(today) if span else None,
        phase_day=span.day_number(today) if span else None,
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
        elif window.patient_refusal(enrollment, day, today) is None:
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
    # Her history: the day's entry was voided by a coordinator (`entry` is then None: it
    # counts as not recorded); she is told so, without the reason, which is for staff.
    voided: bool = False


def history_days(
    enrollment: Enrollment, entries, today: dt.date, schedule: Schedule
) -> list[DayRow]:
    """Every day of the enrollment up to today, newest first, with its entry or a gap
    (the patient's history, labels in her language, phases as she may see them). A
    voided entry is a gap, marked `voided` so that she is told why the day is empty."""
    by_date = {entry.date: entry for entry in entries if not entry.voided}
    voided = {entry.date for entry in entries if entry.voided}
    last = enrollment.last_data_day()
    if last is None:
        return []
    newest = min(today, last)
    rows = []
    for back in range((newest - enrollment.start_date).days + 1):
        day = newest - dt.timedelta(days=back)
        span = schedule.span_on(day)
        rows.append(
            DayRow(
                date=day,
                entry=by_date.get(day),
                phase_label=span.patient_label() if span else None,
                study_day=schedule.study_day(day),
                editable=window.patient_refusal(enrollment, day, today) is None,
                voided=day in voided and day not in by_date,
            )
        )
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

    @property
    def voided(self) -> int:
        """Elapsed days whose entry was voided (among the missed: they do not count)."""
        return sum(1 for row in self.rows if row.entry and row.entry.voided)


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
            for day in (span.dates(until=add_days(span.start, elapsed - 1)) if elapsed else ())
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


# The compliance calendar ---------------------------------------------------------

CALENDAR_DAYS = 28


@dataclass(frozen=True)
class CellState:
    code: str
    words: str  # what a screen reader says, and the legend
    mark: str  # what the eye sees besides the colour


CELL_STATES = [
    CellState("recorded", "Recorded", "✓"),
    CellState("late", "Recorded late", "L"),
    CellState("voided", "Voided", "V"),
    CellState("missed", "Missed", "✗"),
    CellState("open", "Not recorded yet, still open", "·"),
    CellState("upcoming", "Not begun yet in her time zone", ""),
    CellState("none", "Not a diary day", ""),
]
STATE = {state.code: state for state in CELL_STATES}


@dataclass
class CalendarCell:
    date: dt.date
    state: CellState
    phase_start: str | None  # the label of the phase (as the reader sees it) that begins

    @property
    def is_diary_day(self) -> bool:
        return self.state.code not in ("none", "upcoming")


def calendar_days(today: dt.date) -> list[dt.date]:
    """The calendar's columns: the last 28 days up to `today` (the study's calendar)."""
    return [today - dt.timedelta(days=back) for back in range(CALENDAR_DAYS - 1, -1, -1)]


def day_state(enrollment: Enrollment, entry: DiaryEntry | None, day: dt.date, today: dt.date):
    """What `day` of her diary is, seen on her own `today`."""
    if enrollment.status == EnrollmentStatus.SCREENING or not enrollment.contains(day):
        return STATE["none"]
    if day > today:
        return STATE["upcoming"]
    if entry is not None and entry.voided:
        return STATE["voided"]
    if entry is not None:
        return STATE["late"] if entry.late else STATE["recorded"]
    if window.patient_refusal(enrollment, day, today) is None:
        return STATE["open"]
    return STATE["missed"]


def calendar_cells(
    enrollment: Enrollment, schedule: Schedule, entries, days: list[dt.date], today: dt.date
) -> list[CalendarCell]:
    """One calendar row: each of `days` for this enrollment, phases as the reader sees
    them (`schedule`), on her own `today`."""
    by_date = {entry.date: entry for entry in entries}
    cells = []
    for day in days:
        span = schedule.span_on(day) if enrollment.contains(day) else None
        cells.append(
            CalendarCell(
                date=day,
                state=day_state(enrollment, by_date.get(day), day, today),
                phase_start=span.label if span and span.start == day else None,
            )
        )
    return cells
