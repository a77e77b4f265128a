"""The rules of a clinic visit, the one place every door asks (the care team's form, the
admin, import_visits): which dates can hold a visit, one counting visit per date, and
the recorded save and void (who, when, why, in the history).

A visit lies from VISIT_DAYS_BEFORE_START days before the enrollment's start to the last
day of her schedule, never after her withdrawal and never after today in her time zone.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction

from diary.audit.models import required_reason
from diary.trial.dates import date_problem
from diary.trial.locks import lock_problem, refuse_if_locked
from diary.trial.models import Enrollment
from diary.trial.phases import add_days
from diary.visits.measures import MEASURE_NAMES
from diary.visits.models import Visit, VisitSource

# The history keeps a reason of at most this many characters.
REASON_MAX = 100
# A screening visit may come this many days before day 1 (it counts for the first phase).
VISIT_DAYS_BEFORE_START = 28
EDITABLE_FIELDS = ["visit_date", *MEASURE_NAMES, "notes"]


def first_visit_day(enrollment: Enrollment) -> dt.date:
    return add_days(enrollment.start_date, -VISIT_DAYS_BEFORE_START)


def date_problems(enrollment: Enrollment, day: dt.date, today: dt.date | None = None) -> list[str]:
    """Why `day` cannot hold a visit of `enrollment` (staff's words, naming visit_date),
    empty when it can. `today`: hers (default: her diary day now)."""
    problem = date_problem(day, "visit_date")
    if problem:
        return [problem]
    today = today or enrollment.local_today()
    study_id = enrollment.study_id
    end = enrollment.end_date
    if end is None:
        return [f"{study_id} has no schedule yet (its arm has no phases), so it has no visits"]
    first = first_visit_day(enrollment)
    if day < first:
        return [
            f"visit_date {day} is more than {VISIT_DAYS_BEFORE_START} days before "
            f"{study_id}'s start ({enrollment.start_date}); the earliest is {first}"
        ]
    if enrollment.withdrawn_on and day > enrollment.withdrawn_on:
        return [f"visit_date {day} is after {study_id}'s withdrawal ({enrollment.withdrawn_on})"]
    if day > end:
        return [f"visit_date {day} is after the end of {study_id}'s schedule ({end})"]
    if day > today:
        return [
            f"visit_date {day} is in the future (today is {today} in {study_id}'s time "
            f"zone, {enrollment.zone_at()})"
        ]
    return []


def duplicate_problem(
    enrollment: Enrollment, day: dt.date, visit: Visit | None = None
) -> str | None:
    """Why another visit on `day` cannot be recorded: one counting visit per date."""
    others = Visit.objects.counting().filter(enrollment=enrollment, visit_date=day)
    if visit is not None and visit.pk:
        others = others.exclude(pk=visit.pk)
    if others.exists():
        return (
            f"{enrollment.study_id} already has a visit on {day}; correct that visit "
            "instead, or void it first"
        )
    return None


def visit_problems(enrollment: Enrollment, day: dt.date, visit: Visit | None = None) -> list[str]:
    """Every rule on the date of a visit being saved (a new one when `visit` is None);
    none matters once her data are locked."""
    locked = lock_problem(enrollment)
    if locked:
        return [locked]
    problems = date_problems(enrollment, day)
    if not problems:
        duplicate = duplicate_problem(enrollment, day, visit)
        if duplicate:
            problems.append(duplicate)
    return problems


def withdrawal_problem(enrollment: Enrollment, withdrawn_on: dt.date) -> str | None:
    """Why `enrollment` cannot be withdrawn on `withdrawn_on`: a counting visit after
    that date would lie after her withdrawal (void it first, or pick a later date)."""
    later = (
        Visit.objects.counting()
        .filter(enrollment=enrollment, visit_date__gt=withdrawn_on)
        .order_by("visit_date")
        .values_list("visit_date", flat=True)
        .first()
    )
    if later is None:
        return None
    return (
        f"{enrollment.study_id} has a clinic visit on {later}, after {withdrawn_on}: pick "
        "the date of her withdrawal on or after her last visit, or void that visit first."
    )


def _check_length(reason: str) -> None:
    if len(reason) > REASON_MAX:
        raise ValidationError(
            f"The reason is {len(reason)} characters long; keep it to {REASON_MAX}."
        )


def _locked(enrollment: Enrollment) -> Enrollment:
    locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    locked.__dict__["schedule"] = enrollment.schedule  # keep the one already built
    return locked


def save_visit(
    enrollment: Enrollment,
    values: dict,
    *,
    by,
    reason: str,
    visit: Visit | None = None,
    source: str = VisitSource.STAFF,
) -> Visit:
    """Record a new visit (`visit` None) or a correction of `visit` with `values` (of
    EDITABLE_FIELDS), in one transaction under the enrollment's lock, with a history row
    carrying `by` and `reason` (a correction needs one). Raises ValidationError with
    what to fix; nothing is saved then."""
    if visit is not None and visit.pk:
        reason = required_reason(reason, "this correction")
    _check_length(reason)
    with transaction.atomic():
        locked = _locked(enrollment)
        if visit is None:
            visit = Visit(enrollment=locked, source=source)
        else:
            # As stored now, under the lock: a void or a correction saved since the
            # caller read it is not written over.
            visit = Visit.objects.select_for_update().get(pk=visit.pk)
            visit.enrollment = locked
            if visit.voided:
                raise ValidationError("This visit is voided; record the right one as a new visit.")
            if all(getattr(visit, name) == value for name, value in values.items()):
                return visit  # nothing changes: no history row
        for name, value in values.items():
            setattr(visit, name, value)
        problems = visit_problems(locked, visit.visit_date, visit)
        if problems:
            raise ValidationError(problems)
        visit.full_clean(validate_constraints=False)
        visit.source = source
        visit._history_user = by
        visit._change_reason = reason or "Recorded"
        visit.save()
    return visit


def void_visit(visit: Visit, *, by, reason: str) -> Visit:
    """Void `visit` with a reason: it stays, with its history, and no longer counts."""
    reason = required_reason(reason, "voiding this visit")
    _check_length(reason)
    with transaction.atomic():
        locked = _locked(visit.enrollment)
        refuse_if_locked(locked)
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if visit.voided:
            return visit
        visit.voided, visit.void_reason = True, reason
        visit._history_user = by
        visit._change_reason = reason
        visit.save()
    return visit
