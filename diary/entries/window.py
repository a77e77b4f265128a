"""The entry window: which days of an enrollment can hold an entry, for whom, and the
patient's own save of a day (docs/domain.md, "Entry window")."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from diary.entries.models import (
    TREATMENT_ONLY_ITEMS,
    DayProblem,
    DiaryEntry,
    EntryRefused,
    EntrySource,
)
from diary.trial.locks import lock_problem, patient_lock_message
from diary.trial.models import Enrollment, EnrollmentStatus
from diary.trial.phases import PhaseKind


def day_problem(enrollment: Enrollment, day: dt.date, today: dt.date) -> DayProblem | None:
    """Why `day` can hold no entry at all (for the patient and for staff alike): it
    lies outside her schedule, after her withdrawal, or in the future."""
    if enrollment.end_date is None:
        return DayProblem.NO_SCHEDULE
    if day < enrollment.start_date:
        return DayProblem.BEFORE_START
    if enrollment.withdrawn_on and day > enrollment.withdrawn_on:
        return DayProblem.AFTER_WITHDRAWAL
    if not enrollment.contains(day):
        return DayProblem.AFTER_SCHEDULE
    if day > today:
        return DayProblem.IN_FUTURE
    return None


def patient_refusal(enrollment: Enrollment, day: dt.date, today: dt.date) -> str | None:
    """Why the patient may not create or change the entry for `day`, or None: a day
    that can hold no entry, an enrollment that is not active, or a day whose window
    has closed (from the start of D until the end of D + DIARY_GRACE_DAYS); first of
    all, a diary locked for analysis."""
    locked = patient_lock_message(enrollment)
    if locked:
        return locked
    problem = day_problem(enrollment, day, today)
    if problem is not None:
        return problem.for_patient(enrollment)
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return {
            EnrollmentStatus.SCREENING: gettext(
                "Your enrollment has not started yet; the study team will activate it."
            ),
            EnrollmentStatus.COMPLETED: gettext(
                "You have completed the study; the diary is closed."
            ),
            EnrollmentStatus.WITHDRAWN: gettext("You have left the study; the diary is closed."),
        }[enrollment.status]
    grace = settings.DIARY_GRACE_DAYS
    if today > day + dt.timedelta(days=grace):
        return ngettext(
            "This day is locked: a day can be filled in or corrected until the end of "
            "the next day. If something needs fixing, ask your study coordinator.",
            "This day is locked: a day can be filled in or corrected until the end of "
            "the %(grace)d days after it. If something needs fixing, ask your study "
            "coordinator.",
            grace,
        ) % {"grace": grace}
    return None


def staff_problems(enrollment: Enrollment, day: dt.date, values: dict, today: dt.date) -> list[str]:
    """Why staff (an import, a coordinator's correction) may not record `values` for
    `day`; empty when they may: past days within the schedule, not after the
    withdrawal (the patient's entry window does not apply); dose_taken and
    tolerability only in LDN and placebo phases; nothing once her data are locked."""
    locked = lock_problem(enrollment)
    if locked:
        return [locked]
    problem = day_problem(enrollment, day, today)
    if problem is not None:
        return [problem.for_staff(enrollment, day, today)]
    span = enrollment.schedule.span_on(day)
    if span.is_treatment:
        return []
    label = PhaseKind(span.kind).label.lower()
    return [
        f"{name} must be blank outside LDN and placebo phases ({day} is in the {label} phase)"
        for name in TREATMENT_ONLY_ITEMS
        if values.get(name) is not None
    ]


def record_patient_entry(
    enrollment: Enrollment, day: dt.date, values: dict, user, *, answered_at=None
) -> tuple[DiaryEntry, bool]:
    """Create or update the patient's entry for `day` in one transaction.

    The enrollment row is locked first, so two saves of the same day (a double tap,
    a retry on a bad connection, two app servers) run one after the other, and the
    entry window is checked again under that lock: a save either happens whole
    with its history row, or not at all. Returns the entry and whether it changed.
    Raises EntryRefused when the day is not open for the patient.

    `answered_at`: the moment she gave answers saved offline on her phone (arriving
    now). The entry window applies to that moment, not to the arrival; when the day
    holds an answer given later, that one is kept and this one goes into the history.
    """
    received = timezone.now()
    answered = answered_at or received
    with transaction.atomic():
        locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        locked.__dict__["schedule"] = enrollment.schedule  # keep the one already built
        today = answered.astimezone(locked.zoneinfo).date()
        refusal = patient_refusal(locked, day, today)
        if refusal:
            raise EntryRefused(refusal)
        entry = DiaryEntry.objects.filter(enrollment=locked, date=day).first()
        first_counting_save = True
        offline = "" if answered_at is None else f" (answered offline at {_moment(answered)})"
        if entry is None:
            entry = DiaryEntry(enrollment=locked, date=day)
            reason = "Recorded by the patient" + offline
        elif entry.voided:
            # A voided day is missing for her; saving it again makes it count with
            # her new answers. The history keeps the voided values and the reason.
            entry.voided, entry.void_reason = False, ""
            reason = "Recorded again by the patient after it was voided" + offline
        elif all(getattr(entry, name) == value for name, value in values.items()):
            return entry, False
        else:
            reason = "Corrected by the patient" + offline
            first_counting_save = False
        later = (
            not first_counting_save
            and entry.answered_at is not None
            and entry.answered_at > answered
        )
        kept = {
            name: getattr(entry, name)
            for name in (*values, "answered_at", "received_at", "synced_late")
        }
        if first_counting_save:
            entry.source = EntrySource.PATIENT
            entry.late = today > day  # first answered after its day ended
        for name, value in values.items():
            setattr(entry, name, value)
        entry.answered_at, entry.received_at = answered, received
        # Answered inside the window, arrived after it had closed.
        arrival_day = received.astimezone(locked.zoneinfo).date()
        entry.synced_late = arrival_day > day + dt.timedelta(days=settings.DIARY_GRACE_DAYS)
        entry._history_user = user
        entry._change_reason = reason
        entry.save()
        if later:
            # The day's later answer wins; this one stays in the history.
            for name, value in kept.items():
                setattr(entry, name, value)
            entry._history_user = user
            entry._change_reason = (
                f"The later answer of this day (answered at {_moment(kept['answered_at'])}) is kept"
            )
            entry.save()
        return entry, True


def _moment(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
