"""Date arithmetic of a schedule (DOMAIN.md "Day arithmetic").

Day 1 of the schedule is the enrollment's start_date. Phases follow each other without
gaps: phase 1 covers start_date .. start_date + days - 1, and so on. A date before
start_date or after the last phase is outside the enrollment.

Nothing here touches the database: a Schedule is built from phases already loaded
(`Enrollment.objects.with_schedule()` prefetches them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext, pgettext


class PhaseKind(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    LDN = "ldn", "LDN"
    PLACEBO = "placebo", "Placebo"
    WASHOUT = "washout", "Washout"
    FOLLOWUP = "followup", "Follow-up"


TREATMENT_KINDS = (PhaseKind.LDN, PhaseKind.PLACEBO)


def treatment_label(number: int) -> str:
    """DOMAIN.md: what a blinded reader sees instead of a treatment phase's kind."""
    return f"Treatment period {number}"


@dataclass(frozen=True)
class PhaseSpan:
    """One phase placed on the calendar of one enrollment."""

    order: int
    kind: str
    days: int
    start: dt.date
    end: dt.date
    first_study_day: int
    # 1, 2, ... for treatment phases in the arm's order; None otherwise.
    treatment_number: int | None
    dose_mg: object = None

    @property
    def is_treatment(self) -> bool:
        return self.kind in TREATMENT_KINDS

    def label(self, blinded: bool) -> str:
        """DOMAIN.md: whoever is blinded sees treatment phases as "Treatment period N";
        non-treatment phases keep their labels."""
        if blinded and self.is_treatment:
            return treatment_label(self.treatment_number)
        return PhaseKind(self.kind).label

    def patient_label(self, blinded: bool) -> str:
        """`label` in the language of the patient's page. Staff pages and exports keep
        DOMAIN.md's English labels."""
        if blinded and self.is_treatment:
            return gettext("Treatment period %(number)s") % {"number": self.treatment_number}
        return {
            PhaseKind.BASELINE: pgettext("phase", "Baseline"),
            PhaseKind.LDN: pgettext("phase", "LDN"),
            PhaseKind.PLACEBO: pgettext("phase", "Placebo"),
            PhaseKind.WASHOUT: pgettext("phase", "Washout"),
            PhaseKind.FOLLOWUP: pgettext("phase", "Follow-up"),
        }[self.kind]

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def elapsed_days(self, as_of: dt.date, withdrawn_on: dt.date | None = None) -> int:
        """Days of the phase on or before min(as_of, withdrawn_on); 0 if not begun."""
        last = min(as_of, withdrawn_on) if withdrawn_on else as_of
        last = min(last, self.end)
        if last < self.start:
            return 0
        return (last - self.start).days + 1

    def dates(self, until: dt.date | None = None) -> Iterable[dt.date]:
        last = self.end if until is None else min(until, self.end)
        day = self.start
        while day <= last:
            yield day
            day += dt.timedelta(days=1)


class Schedule:
    """The phases of an arm laid out from a start date."""

    def __init__(self, start_date: dt.date, phases: Sequence) -> None:
        self.start = start_date
        spans = []
        day = start_date
        treatment_number = 0
        for phase in sorted(phases, key=lambda p: p.order):
            number = None
            if phase.kind in TREATMENT_KINDS:
                treatment_number += 1
                number = treatment_number
            end = day + dt.timedelta(days=phase.days - 1)
            spans.append(
                PhaseSpan(
                    order=phase.order,
                    kind=phase.kind,
                    days=phase.days,
                    start=day,
                    end=end,
                    first_study_day=(day - start_date).days + 1,
                    treatment_number=number,
                    dose_mg=getattr(phase, "dose_mg", None),
                )
            )
            day = end + dt.timedelta(days=1)
        self.spans: list[PhaseSpan] = spans

    def __iter__(self):
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def end(self) -> dt.date | None:
        return self.spans[-1].end if self.spans else None

    @property
    def total_days(self) -> int:
        return sum(span.days for span in self.spans)

    def span_on(self, day: dt.date) -> PhaseSpan | None:
        for span in self.spans:
            if span.contains(day):
                return span
        return None

    def study_day(self, day: dt.date) -> int | None:
        """1-based day number within the schedule, None outside it."""
        if self.end is None or not self.start <= day <= self.end:
            return None
        return (day - self.start).days + 1
