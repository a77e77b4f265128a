"""Which phases of an enrollment can be reviewed and signed, as a reader sees them: the
one place that says when a phase has ended for sign-off, and which days and visits a
phase review covers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from diary.trial.models import Enrollment
from diary.trial.phases import PhaseSpan, Schedule
from diary.visits.rules import first_visit_day


@dataclass(frozen=True)
class ReviewPhase:
    """A phase of her schedule (as one reader sees it) that holds data: its span, its
    last day with data (the schedule's end, or her withdrawal), whether it may be signed
    (ended and the entry window of its last day closed), and the first day of the visits
    it covers (a visit before day 1 counts for the first phase)."""

    span: PhaseSpan
    last_day: dt.date
    signable: bool
    first_visit_day: dt.date

    @property
    def order(self) -> int:
        return self.span.order

    @property
    def first_day(self) -> dt.date:
        return self.span.start

    @property
    def label(self) -> str:
        return self.span.label


def review_phases(enrollment: Enrollment, schedule: Schedule, today: dt.date) -> list[ReviewPhase]:
    """Her phases that hold data (those after a withdrawal hold none), first to last."""
    phases = []
    withdrawn = enrollment.withdrawn_on
    grace = settings.DIARY_GRACE_DAYS
    for index, span in enumerate(schedule):
        if withdrawn and withdrawn < span.start:
            break
        last_day = min(span.end, withdrawn) if withdrawn else span.end
        phases.append(
            ReviewPhase(
                span=span,
                last_day=last_day,
                signable=today - dt.timedelta(days=grace) > last_day,
                first_visit_day=first_visit_day(enrollment) if index == 0 else span.start,
            )
        )
    return phases


def review_phase(
    enrollment: Enrollment, schedule: Schedule, today: dt.date, order: int
) -> ReviewPhase | None:
    return next((p for p in review_phases(enrollment, schedule, today) if p.order == order), None)
