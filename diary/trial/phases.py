"""Date arithmetic of a schedule, and the shape of a schedule as a blinded reader sees it.

Day 1 of the schedule is the enrollment's start_date. Phases follow each other without
gaps: phase 1 covers start_date .. start_date + days - 1, and so on. A date before
start_date or after the last phase is outside the enrollment.

A blinded reader must not be able to tell the arm from the shape of the schedule. When
every arm of a protocol has its treatment phases on the same days, with the same
lengths, and each of those periods holds a different treatment in some arm, she sees
them as "Treatment period 1", "Treatment period 2". Otherwise (ldn-fm-2013's arms differ
in the order of an 84-day and a 28-day phase; a single-arm protocol always has the same
treatment at the same place) each run of consecutive treatment phases is one phase
labelled "Treatment", which is what every page, chart, figure and file shows her.

Who is blinded is decided in diary.trial.blinding; nothing here touches the database: plans
are built from phases already loaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext, pgettext

# The last day a date can be (the database's and Python's alike). A schedule that would
# run past it ends on it: readers clamp their date arithmetic here and never raise.
LAST_DAY = dt.date.max
FIRST_DAY = dt.date.min


def add_days(day: dt.date, days: int) -> dt.date:
    """`day` moved by `days`, clamped to the calendar's first and last day (a date the
    database holds may lie anywhere in it, e.g. a row written before the input limits)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return LAST_DAY if days > 0 else FIRST_DAY


class PhaseKind(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    LDN = "ldn", "LDN"
    PLACEBO = "placebo", "Placebo"
    WASHOUT = "washout", "Washout"
    FOLLOWUP = "followup", "Follow-up"


TREATMENT_KINDS = (PhaseKind.LDN, PhaseKind.PLACEBO)
# What a blinded reader sees instead of a treatment phase's kind.
TREATMENT_LABEL = "Treatment"
TREATMENT_PERIOD_LABEL = "Treatment period {number}"


def is_treatment_kind(kind: str) -> bool:
    return kind in TREATMENT_KINDS


@dataclass(frozen=True)
class PhasePlan:
    """One phase of an arm as some reader sees it, before it is placed on a calendar.

    `kind` is None for a treatment phase whose kind the reader may not see; `number`
    then tells the treatment periods apart (None for the one merged "Treatment").
    """

    order: int
    kind: str | None
    days: int
    is_treatment: bool
    number: int | None = None

    @property
    def label(self) -> str:
        """The label of staff pages and files (English, as the data dictionary names it)."""
        if self.kind is not None:
            return PhaseKind(self.kind).label
        if self.number is None:
            return TREATMENT_LABEL
        return TREATMENT_PERIOD_LABEL.format(number=self.number)

    def patient_label(self) -> str:
        """`label` in the language of the patient's page."""
        if self.kind is None:
            if self.number is None:
                return pgettext("phase", "Treatment")
            return gettext("Treatment period %(number)s") % {"number": self.number}
        return {
            PhaseKind.BASELINE: pgettext("phase", "Baseline"),
            PhaseKind.LDN: pgettext("phase", "LDN"),
            PhaseKind.PLACEBO: pgettext("phase", "Placebo"),
            PhaseKind.WASHOUT: pgettext("phase", "Washout"),
            PhaseKind.FOLLOWUP: pgettext("phase", "Follow-up"),
        }[self.kind]

    def describe(self) -> str:
        return f"{self.label} {self.days} d"


def plans(phases: Iterable) -> list[PhasePlan]:
    """The phases as they are (kinds shown), in order; treatment phases numbered."""
    result, number = [], 0
    for order, phase in enumerate(sorted(phases, key=lambda p: p.order), start=1):
        treatment = is_treatment_kind(phase.kind)
        number += treatment
        result.append(
            PhasePlan(
                order=order,
                kind=phase.kind,
                days=phase.days,
                is_treatment=treatment,
                number=number if treatment else None,
            )
        )
    return result


def plan_offsets(phase_plans: Iterable[PhasePlan]) -> list[tuple[PhasePlan, int, int]]:
    """Each plan with its first and last day as offsets from the schedule's start (day 1
    is offset 0): the phases follow each other without gaps. Schedule places them on a
    calendar from these; the summaries' SQL places entries in them."""
    result, first = [], 0
    for plan in phase_plans:
        result.append((plan, first, first + plan.days - 1))
        first += plan.days
    return result


def _treatment_periods(arm_plans: list[PhasePlan]) -> list[tuple[int, int, str]]:
    """(first day offset, days, kind) of each treatment phase."""
    return [
        (first, plan.days, plan.kind)
        for plan, first, _last in plan_offsets(arm_plans)
        if plan.is_treatment
    ]


def periods_can_be_numbered(arms: Mapping[object, list[PhasePlan]]) -> bool:
    """Whether numbered treatment periods hide the arm: at least two arms, treatment
    phases on the same days with the same lengths in every arm, and no period that
    holds the same treatment in every arm (its number would name it)."""
    periods = [_treatment_periods(arm) for arm in arms.values() if arm]
    if len(periods) < 2:
        return False
    windows = [[(offset, days) for offset, days, _ in arm] for arm in periods]
    if any(window != windows[0] for window in windows):
        return False
    return all(len({arm[i][2] for arm in periods}) > 1 for i in range(len(periods[0])))


def blinded_plans(arm_plans: list[PhasePlan], numbered: bool) -> list[PhasePlan]:
    """`arm_plans` as a blinded reader sees them: treatment kinds hidden, and unless
    the periods can be numbered, each run of consecutive treatment phases merged."""
    if numbered:
        return [
            PhasePlan(p.order, None, p.days, True, p.number) if p.is_treatment else p
            for p in arm_plans
        ]
    runs: list[list[PhasePlan]] = []
    for plan in arm_plans:
        if plan.is_treatment and runs and runs[-1][-1].is_treatment:
            runs[-1].append(plan)
        else:
            runs.append([plan])
    treatment_runs = sum(1 for run in runs if run[0].is_treatment)
    result, number = [], 0
    for order, run in enumerate(runs, start=1):
        first = run[0]
        if not first.is_treatment:
            result.append(PhasePlan(order, first.kind, first.days, False))
            continue
        number += 1
        days = sum(plan.days for plan in run)
        result.append(PhasePlan(order, None, days, True, number if treatment_runs > 1 else None))
    return result


class ProtocolLayout:
    """Every arm's plans of one protocol, as they are and as a blinded reader sees them."""

    def __init__(self, arms: Mapping[object, Iterable]) -> None:
        """`arms`: {arm key: that arm's phases (anything with order, kind and days)}."""
        self.true = {key: plans(phases) for key, phases in arms.items()}
        self.numbered = periods_can_be_numbered(self.true)
        self.blinded = {
            key: blinded_plans(arm_plans, self.numbered) for key, arm_plans in self.true.items()
        }

    def plans(self, arm_key, blinded: bool) -> list[PhasePlan]:
        return (self.blinded if blinded else self.true).get(arm_key, [])

    def blinding_problem(self) -> str | None:
        """Why a blinded reader could tell the arms apart from their schedules (arms
        without phases yet are left out), or None when she cannot."""
        shapes = {
            key: [(p.kind, p.days, p.is_treatment, p.number) for p in arm_plans]
            for key, arm_plans in self.blinded.items()
            if arm_plans
        }
        if len({tuple(shape) for shape in shapes.values()}) <= 1:
            return None
        described = "; ".join(
            f"arm {key}: " + " → ".join(plan.describe() for plan in self.blinded[key])
            for key in shapes
        )
        return (
            "A blinded reader would tell the arms apart by their schedules ("
            + described
            + "). Give every arm the same treatment window (same first day and same "
            "total length) and the same phases before and after it, or make the "
            "protocol open label."
        )


@dataclass(frozen=True)
class PhaseSpan:
    """One phase, as some reader sees it, placed on the calendar of one enrollment."""

    plan: PhasePlan
    start: dt.date
    end: dt.date
    first_study_day: int

    @property
    def order(self) -> int:
        return self.plan.order

    @property
    def kind(self) -> str | None:
        return self.plan.kind

    @property
    def days(self) -> int:
        """Its days on the calendar: the plan's, unless the calendar ends first."""
        return (self.end - self.start).days + 1

    @property
    def is_treatment(self) -> bool:
        return self.plan.is_treatment

    @property
    def label(self) -> str:
        return self.plan.label

    def patient_label(self) -> str:
        return self.plan.patient_label()

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def day_number(self, day: dt.date) -> int:
        """1 for the phase's first day."""
        return (day - self.start).days + 1

    def elapsed_days(self, as_of: dt.date, withdrawn_on: dt.date | None = None) -> int:
        """Days of the phase on or before min(as_of, withdrawn_on); 0 if not begun."""
        last = min(as_of, withdrawn_on) if withdrawn_on else as_of
        last = min(last, self.end)
        if last < self.start:
            return 0
        return (last - self.start).days + 1

    def dates(self, until: dt.date | None = None) -> Iterable[dt.date]:
        last = self.end if until is None else min(until, self.end)
        for n in range((last - self.start).days + 1):
            yield self.start + dt.timedelta(days=n)


class Schedule:
    """An arm's phases (as some reader sees them) laid out from a start date.

    A schedule that would run past the last day of the calendar (a start date the input
    limits refuse, stored anyway) ends on that day: its last phase is cut short there
    and the phases after it are left out (`cut_short`)."""

    def __init__(self, start_date: dt.date, phase_plans: Sequence[PhasePlan]) -> None:
        self.start = start_date
        self.cut_short = False
        spans = []
        room = (LAST_DAY - start_date).days  # the last offset the calendar holds
        for plan, first, last in plan_offsets(phase_plans):
            if first > room:  # the phase before ended on the calendar's last day
                self.cut_short = True
                break
            start, end = add_days(start_date, first), add_days(start_date, last)
            if (end - start).days != plan.days - 1:
                self.cut_short = True
            spans.append(PhaseSpan(plan, start, end, first + 1))
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

    @property
    def treatment_end(self) -> dt.date | None:
        """The last day of the last treatment phase (None without one)."""
        ends = [span.end for span in self.spans if span.is_treatment]
        return max(ends) if ends else None

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
