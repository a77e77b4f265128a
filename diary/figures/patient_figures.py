"""Each patient's figures per phase (docs/domain.md, "Summary figures"), computed in SQL.

One query places every counting entry and clinic visit in its phase and works out each
patient's phase figures (PATIENT_FIGURES_SQL): one row per patient and phase. The patient pages and
exports read those rows, and diary.figures.summaries works the cohort figures out of the
same rows (so the query runs once for both). Patients' means and standard deviations
come from integer sums divided once in double precision, so SQLite and PostgreSQL give
the same numbers to the last digit, and so do the cohort figures computed from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet

from diary.figures.sql import compose, dataclass_from_row, days_between, fetch, value, values_rows
from diary.trial import blinding
from diary.trial.models import Enrollment
from diary.trial.phases import PhaseKind, PhasePlan, PhaseSpan, Schedule, plan_offsets

# docs/domain.md: compliance below this is flagged on physician pages.
LOW_COMPLIANCE_PCT = 80
# The trial's end point: the mean pain of a phase's last 3 days.
ENDPOINT_DAYS = 3


# Figures --------------------------------------------------------------------------


@dataclass
class PhaseSummary:
    """Every per-patient, per-phase figure of docs/domain.md."""

    order: int
    kind: str | None  # None where the reader is blinded to a treatment phase
    label: str  # as the reader may see it ("Treatment" for a blinded reader's merged phase)
    start: dt.date
    end: dt.date
    elapsed_days: int
    entries: int
    compliance_pct: float | None
    low_compliance: bool
    pain_mean: float | None
    pain_sd: float | None
    pain_reduction_pct: float | None
    pain_endpoint: float | None
    pain_endpoint_reduction_pct: float | None
    fatigue_mean: float | None
    sleep_quality_mean: float | None
    tolerability_mean: float | None
    vivid_dreams_days: int
    vivid_dreams_pct: float | None
    headache_days: int
    headache_pct: float | None
    late_entries: int
    # The clinic measures (docs/domain.md "Clinic visits and measures"): each the value at
    # the phase's last counting visit that has it, and its change from baseline.
    esr: int | None
    esr_change: int | None
    pressure_threshold: float | None
    pressure_threshold_change: float | None
    heat_threshold: float | None
    heat_threshold_change: float | None


@dataclass
class PatientSummary:
    enrollment: Enrollment
    arm: str | None  # None while the reader is blinded
    phases: list[PhaseSummary]

    @property
    def study_id(self) -> str:
        return self.enrollment.study_id


# Arithmetic helpers ---------------------------------------------------------------


def pct(part, whole) -> float | None:
    if part is None or not whole:
        return None
    return 100 * part / whole


# The aggregate queries -------------------------------------------------------------


# The per-patient figures of every enrollment and phase, in SQL. `spans` holds each
# arm's phases as the reader may see them (diary.trial.blinding: a blinded reader's merged
# "Treatment" is one phase here), with their first and last day as offsets from the
# enrollment's start (docs/domain.md "Day arithmetic"); an entry joins the phase whose
# offsets hold its own, and so does a visit (one before the start joins the first phase).
# Means and SDs come from integer sums divided once in double precision, and thresholds
# are subtracted in double precision, so both databases give the same figures to the
# last digit.
FIGURES_CTES = """
WITH spans (arm_id, "order", kind, label, is_baseline, is_treatment, rank, days,
            first_offset, last_offset, baseline_order) AS (
    VALUES {span_rows}
), members AS (
    SELECT en.id AS enrollment_id, en.protocol_id, en.study_id, en.arm_id, en.start_date,
           {as_of_offset} AS as_of_offset,
           {limit_offset} AS limit_offset
    FROM diary_enrollment en
    WHERE en.id IN ({enrollment_ids})
), sums AS (
    SELECT e.enrollment_id, s."order", COUNT(*) AS n, SUM(e.pain) AS pain_sum,
           SUM(e.pain * e.pain) AS pain_squares, SUM(e.fatigue) AS fatigue_sum,
           SUM(e.sleep_quality) AS sleep_sum, SUM(e.tolerability) AS tolerability_sum,
           COUNT(e.tolerability) AS tolerability_n,
           COUNT(*) FILTER (WHERE e.vivid_dreams) AS dreams,
           COUNT(*) FILTER (WHERE e.headache) AS headaches,
           COUNT(*) FILTER (WHERE e.late) AS late,
           SUM(e.pain) FILTER (WHERE {entry_offset} > s.last_offset - {endpoint_days})
               AS endpoint_sum,
           COUNT(*) FILTER (WHERE {entry_offset} > s.last_offset - {endpoint_days})
               AS endpoint_n
    FROM diary_diaryentry e
    JOIN diary_enrollment en ON en.id = e.enrollment_id
    JOIN spans s ON s.arm_id = en.arm_id
        AND {entry_offset} BETWEEN s.first_offset AND s.last_offset
    WHERE NOT e.voided AND e.date <= {as_of} AND en.id IN ({enrollment_ids})
    GROUP BY e.enrollment_id, s."order"
), visit_places AS (
    -- Each counting visit up to the as-of date in its phase; one before the start
    -- counts for the first phase. Thresholds in double precision, as the entries' means.
    SELECT v.enrollment_id, s."order", v.visit_date, v.esr,
           CAST(v.pressure_threshold AS DOUBLE PRECISION) AS pressure_threshold,
           CAST(v.heat_threshold AS DOUBLE PRECISION) AS heat_threshold
    FROM diary_visit v
    JOIN diary_enrollment en ON en.id = v.enrollment_id
    JOIN spans s ON s.arm_id = en.arm_id
        AND ({visit_offset} BETWEEN s.first_offset AND s.last_offset
             OR ({visit_offset} < 0 AND s.first_offset = 0))
    WHERE NOT v.voided AND v.visit_date <= {as_of} AND en.id IN ({enrollment_ids})
        -- Never after her withdrawal (a withdrawal is not dated before a visit; one
        -- written otherwise does not count).
        AND (en.withdrawn_on IS NULL OR v.visit_date <= en.withdrawn_on)
), last_visits AS (
    -- Each visit beside the date of its phase's last visit with each measure (at most
    -- one counting visit a date): one pass, no self-join.
    SELECT enrollment_id, "order", visit_date, esr, pressure_threshold, heat_threshold,
           MAX(visit_date) FILTER (WHERE esr IS NOT NULL)
               OVER (PARTITION BY enrollment_id, "order") AS esr_date,
           MAX(visit_date) FILTER (WHERE pressure_threshold IS NOT NULL)
               OVER (PARTITION BY enrollment_id, "order") AS pressure_date,
           MAX(visit_date) FILTER (WHERE heat_threshold IS NOT NULL)
               OVER (PARTITION BY enrollment_id, "order") AS heat_date
    FROM visit_places
), measures AS (
    SELECT enrollment_id, "order",
           MAX(CASE WHEN visit_date = esr_date THEN esr END) AS esr,
           MAX(CASE WHEN visit_date = pressure_date THEN pressure_threshold END)
               AS pressure_threshold,
           MAX(CASE WHEN visit_date = heat_date THEN heat_threshold END) AS heat_threshold
    FROM last_visits
    GROUP BY enrollment_id, "order"
), phases AS (
    SELECT m.enrollment_id, m.protocol_id, m.study_id, s."order", s.kind, s.label, s.is_baseline,
           s.is_treatment, s.rank,
           CASE WHEN m.limit_offset < s.first_offset THEN 0
                WHEN m.limit_offset > s.last_offset THEN s.days
                ELSE m.limit_offset - s.first_offset + 1 END AS elapsed_days,
           COALESCE(x.n, 0) AS entries,
           CAST(x.pain_sum AS DOUBLE PRECISION) / x.n AS pain_mean,
           CASE WHEN x.n >= 2 THEN SQRT(
               CAST(x.n * x.pain_squares - x.pain_sum * x.pain_sum AS DOUBLE PRECISION)
               / (x.n * (x.n - 1))) END AS pain_sd,
           CASE WHEN m.as_of_offset >= s.last_offset AND x.endpoint_n > 0
                THEN CAST(x.endpoint_sum AS DOUBLE PRECISION) / x.endpoint_n
           END AS pain_endpoint,
           CAST(x.fatigue_sum AS DOUBLE PRECISION) / x.n AS fatigue_mean,
           CAST(x.sleep_sum AS DOUBLE PRECISION) / x.n AS sleep_quality_mean,
           CASE WHEN x.tolerability_n > 0
                THEN CAST(x.tolerability_sum AS DOUBLE PRECISION) / x.tolerability_n
           END AS tolerability_mean,
           COALESCE(x.dreams, 0) AS vivid_dreams_days,
           COALESCE(x.headaches, 0) AS headache_days,
           COALESCE(x.late, 0) AS late_entries,
           -- The mean pain of the patient's (first) baseline phase.
           CAST(b.pain_sum AS DOUBLE PRECISION) / b.n AS baseline_mean,
           -- The measures, their baseline values and their changes from baseline.
           vm.esr, vm.pressure_threshold, vm.heat_threshold,
           bm.esr AS baseline_esr,
           CASE WHEN s.is_baseline = 0 THEN vm.esr - bm.esr END AS esr_change,
           CASE WHEN s.is_baseline = 0 THEN vm.pressure_threshold - bm.pressure_threshold
           END AS pressure_threshold_change,
           CASE WHEN s.is_baseline = 0 THEN vm.heat_threshold - bm.heat_threshold
           END AS heat_threshold_change
    FROM members m
    JOIN spans s ON s.arm_id = m.arm_id
    LEFT JOIN sums x ON x.enrollment_id = m.enrollment_id AND x."order" = s."order"
    LEFT JOIN sums b ON b.enrollment_id = m.enrollment_id AND b."order" = s.baseline_order
    LEFT JOIN measures vm ON vm.enrollment_id = m.enrollment_id AND vm."order" = s."order"
    LEFT JOIN measures bm ON bm.enrollment_id = m.enrollment_id
        AND bm."order" = s.baseline_order
), figures AS (
    SELECT p.*,
           CASE WHEN p.is_baseline = 0 AND p.baseline_mean <> 0
                THEN 100 * (p.baseline_mean - p.pain_mean) / p.baseline_mean
           END AS pain_reduction_pct,
           CASE WHEN p.is_baseline = 0 AND p.baseline_mean <> 0
                THEN 100 * (p.baseline_mean - p.pain_endpoint) / p.baseline_mean
           END AS pain_endpoint_reduction_pct
    FROM phases p
)
"""

PATIENT_FIGURES_SQL = (
    FIGURES_CTES
    + """
SELECT * FROM figures ORDER BY enrollment_id, "order"
"""
)

KIND_ORDER = [kind.value for kind in PhaseKind]


def _rank(plan: PhasePlan) -> int:
    """Where a phase's cohort row goes: its place in the schedule as the reader sees it
    (the pilot: Baseline, Placebo, LDN, Washout). Phases of one kind pool across arms
    and take the earliest place any arm gives them; two kinds at the same place in
    different arms (ldn-fm-2013's LDN and placebo) follow the kinds' natural order. A
    blinded reader's plans have the same places in every arm, so this reveals no arm."""
    return 10 * plan.order + (KIND_ORDER.index(plan.kind) if plan.kind is not None else 0)


def span_rows(plans_by_arm: dict[int, list[PhasePlan]]) -> tuple[str, list]:
    """The VALUES rows of the `spans` CTE (each arm's phases with their offsets from
    the start, as the reader sees them), with their parameters."""
    rows = []
    for arm_id, arm_plans in plans_by_arm.items():
        baseline = next((p.order for p in arm_plans if p.kind == PhaseKind.BASELINE), None)
        for plan, first, last in plan_offsets(arm_plans):
            rows.append(
                (
                    arm_id,
                    plan.order,
                    plan.kind,
                    plan.label,
                    int(plan.kind == PhaseKind.BASELINE),
                    int(plan.is_treatment),
                    _rank(plan),
                    plan.days,
                    first,
                    last,
                    baseline,
                )
            )
    return values_rows(rows)


def phase_rows(enrollment_ids, plans_by_arm, as_of: dt.date) -> list[dict]:
    """Run PATIENT_FIGURES_SQL over `enrollment_ids` (a queryset of ids, which goes in
    as a subquery, so the query has the same size for any number of patients) with each
    arm's phases as the reader sees them, and return its rows (one per enrollment and
    phase) as dicts."""
    try:
        enrollments = enrollment_ids.query.sql_with_params()
    except EmptyResultSet:  # e.g. .none(): no enrollment, nothing to sum
        return []
    spans = span_rows(plans_by_arm)
    if not spans[0]:  # no arm has phases: nothing to place entries in
        return []
    days = days_between()
    # The last day that elapses: the as-of date, or the withdrawal if that is earlier.
    limit = "(CASE WHEN en.withdrawn_on < %s THEN en.withdrawn_on ELSE %s END)"
    sql, params = compose(
        PATIENT_FIGURES_SQL,
        span_rows=spans,
        as_of=value(as_of),
        as_of_offset=(days.format(later="%s", earlier="en.start_date"), [as_of]),
        limit_offset=(days.format(later=limit, earlier="en.start_date"), [as_of, as_of]),
        entry_offset=days.format(later="e.date", earlier="en.start_date"),
        visit_offset=days.format(later="v.visit_date", earlier="en.start_date"),
        enrollment_ids=enrollments,
        endpoint_days=value(ENDPOINT_DAYS),
    )
    rows = fetch(sql, params)
    for row in rows:
        _normalise_measures(row)
    return rows


# The measures' columns of a figures row and the Python type each is given (the
# databases hand back an integer column, or a double, as int, float or Decimal).
MEASURE_COLUMNS = {
    "esr": int,
    "baseline_esr": int,
    "esr_change": int,
    "pressure_threshold": float,
    "pressure_threshold_change": float,
    "heat_threshold": float,
    "heat_threshold_change": float,
}


def _normalise_measures(row: dict) -> None:
    for name, kind in MEASURE_COLUMNS.items():
        if row[name] is not None:
            row[name] = kind(row[name])


def _phase_summary(span: PhaseSpan, row: dict) -> PhaseSummary:
    elapsed, entries = row["elapsed_days"], row["entries"]
    compliance = pct(entries, elapsed)
    return dataclass_from_row(
        PhaseSummary,
        row,
        order=span.order,
        kind=span.kind,
        label=span.label,
        start=span.start,
        end=span.end,
        compliance_pct=compliance,
        low_compliance=elapsed > 0 and compliance < LOW_COMPLIANCE_PCT,
        vivid_dreams_pct=pct(row["vivid_dreams_days"], entries),
        headache_pct=pct(row["headache_days"], entries),
    )


def patient_summary(enrollment, schedule: Schedule, figures: dict, reader) -> PatientSummary:
    phases = [_phase_summary(span, figures[(enrollment.pk, span.order)]) for span in schedule]
    return PatientSummary(
        enrollment=enrollment, arm=blinding.arm_for(enrollment, reader), phases=phases
    )


def patient_as_of(enrollment: Enrollment, now: dt.datetime | None = None) -> dt.date:
    """The one as-of date of a page or file about one patient (docs/domain.md, "Summary
    figures"): her today, the date of `now` (default: this moment) in her enrollment's
    time zone. Her summary table, her chart's last day, her "day N" and a file's name all
    take this date, so they never disagree around midnight (her today is not the
    study's): day N of a phase is the phase's Nth elapsed day, T itself included. Pages
    and files about many patients take one date for all, the study's today
    (diary.trial.dates.study_today), or the as-of a reader picks."""
    return enrollment.local_today(now)


def summarize_enrollment(enrollment: Enrollment, as_of: dt.date, reader) -> PatientSummary:
    """The per-phase summary of one patient as `reader` may see it (one aggregate query)."""
    schedule = blinding.schedule_for(enrollment, reader)
    rows = phase_rows(
        Enrollment.objects.filter(pk=enrollment.pk).values("pk"),
        {enrollment.arm_id: [span.plan for span in schedule]},
        as_of,
    )
    figures = {(row["enrollment_id"], row["order"]): row for row in rows}
    return patient_summary(enrollment, schedule, figures, reader)
