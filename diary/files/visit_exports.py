"""export_visits: one row per clinic visit (voided ones too, flagged), with the study
day and the phase as the file's reader may see them (docs/domain.md, "Clinic visits and
measures")."""

from __future__ import annotations

from collections.abc import Iterator

from diary.files.moments import local_moment
from diary.trial import blinding, locks
from diary.visits.measures import MEASURES
from diary.visits.models import Visit

VISIT_COLUMNS = [
    "study_id",
    "visit_date",
    "study_day",
    "phase_order",
    "phase",
    *(measure.name for measure in MEASURES),
    "notes",
    "source",
    "voided",
    "created_at",
    "updated_at",
    "locked_at",
]


def visit_rows(enrollments, reader) -> Iterator[list]:
    """The header, then one row per visit by study ID and date. A visit before day 1
    has a negative study day (day 0 is the day before the start) and the first phase,
    where it counts. Three queries whatever the size."""
    yield VISIT_COLUMNS
    by_id = {e.pk: e for e in enrollments.load_with_schedules()}
    if not by_id:
        return
    schedule_of = blinding.file_schedules(reader)
    visits = (
        Visit.objects.filter(enrollment_id__in=enrollments.values("pk"))
        .order_by("enrollment__study_id", "visit_date", "pk")
        .values_list(
            "enrollment_id",
            "visit_date",
            *(measure.name for measure in MEASURES),
            "notes",
            "source",
            "voided",
            "created_at",
            "updated_at",
        )
        .iterator(chunk_size=5000)
    )
    for enrollment_id, day, *values, notes, source, voided, created_at, updated_at in visits:
        enrollment = by_id.get(enrollment_id)
        if enrollment is None:  # enrolled after the file's enrollments were read
            continue
        span = visit_span(schedule_of(enrollment), enrollment, day)
        zone = enrollment.zoneinfo
        yield [
            enrollment.study_id,
            day.isoformat(),
            study_day(enrollment.start_date, day),
            span.order if span else "",
            span.label if span else "",
            *(measure.shown(value) for measure, value in zip(MEASURES, values, strict=True)),
            notes,
            source,
            "yes" if voided else "no",
            local_moment(created_at, zone),
            local_moment(updated_at, zone),
            local_moment(locks.locked_at(enrollment), zone),
        ]


def visit_span(schedule, enrollment, day):
    """The phase (a span of `schedule`, the reader's) a visit on `day` counts for: a
    visit before the start counts for the first phase; None outside the schedule."""
    span = schedule.span_on(day)
    if span is None and day < enrollment.start_date and len(schedule):
        span = schedule.spans[0]
    return span


def study_day(start, day) -> int:
    """Day 1 is the start; the day before it is 0, then -1, ... (no gap is skipped, so
    differences of study days are differences of dates)."""
    return (day - start).days + 1
