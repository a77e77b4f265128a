"""Per-phase and cohort summaries of DOMAIN.md ("Summary figures"), computed in SQL.

One query places every counting entry in its phase and works out each patient's phase
figures (FIGURES_CTES); the patient pages and exports read those rows, and the cohort
query aggregates them further in the database, so a cohort of any size comes back as a
few rows. Patients' means and standard deviations come from integer sums divided once
in double precision, so SQLite and PostgreSQL give the same numbers to the last digit;
cohort means (averages of those) agree to within rounding of the last binary digit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.utils import timezone

from diary.models import (
    Blinding,
    Enrollment,
    EnrollmentStatus,
    PhaseKind,
    Protocol,
)
from diary.phases import TREATMENT_KINDS, PhaseSpan, treatment_label

# DOMAIN.md: compliance below this is flagged on physician pages.
LOW_COMPLIANCE_PCT = 80
# IMMPACT: >= 30% is a moderately important, >= 50% a substantial reduction of pain.
RESPONDER_THRESHOLDS = (30, 50)
# The trial's end point: the mean pain of a phase's last 3 days.
ENDPOINT_DAYS = 3


# Figures --------------------------------------------------------------------------


@dataclass
class PhaseSummary:
    """Every per-patient, per-phase figure of DOMAIN.md."""

    order: int
    kind: str | None  # None where the reader is blinded to a treatment phase
    label: str
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


@dataclass
class PatientSummary:
    enrollment: Enrollment
    blinded: bool
    phases: list[PhaseSummary]

    @property
    def study_id(self) -> str:
        return self.enrollment.study_id

    @property
    def arm(self) -> str | None:
        return None if self.blinded else self.enrollment.arm.code


@dataclass
class CohortSummary:
    """Every cohort figure for one phase kind (or, blinded, one phase label)."""

    kind: str | None
    label: str
    patients: int
    compliance_pct: float | None
    pain_mean: float | None
    pain_sd: float | None
    fatigue_mean: float | None
    sleep_quality_mean: float | None
    tolerability_mean: float | None
    pain_reduction_pct_mean: float | None
    pain_endpoint_reduction_pct_mean: float | None
    responders_30: int | None
    responders_30_pct: float | None
    responders_50: int | None
    responders_50_pct: float | None
    vivid_dreams_incidence_pct: float | None
    headache_incidence_pct: float | None


@dataclass
class LdnVsPlacebo:
    patients: int
    pain_mean_ldn: float | None
    pain_mean_placebo: float | None
    relative_reduction_pct: float | None


@dataclass
class ProtocolSummary:
    protocol: Protocol
    blinded: bool
    enrollments: int = 0  # summarized (screening left out)
    patients: list[PatientSummary] = field(default_factory=list)
    cohort: list[CohortSummary] = field(default_factory=list)
    ldn_vs_placebo: LdnVsPlacebo | None = None


# Arithmetic helpers ---------------------------------------------------------------


def pct(part, whole) -> float | None:
    if part is None or not whole:
        return None
    return 100 * part / whole


# The aggregate queries -------------------------------------------------------------


# The per-patient figures of every enrollment and phase, in SQL. Phases are laid end
# to end from the enrollment's start (DOMAIN.md "Day arithmetic"): a window function
# turns each arm's phase lengths into day offsets from the start, and an entry joins
# the phase whose offsets hold its own. Means and SDs come from integer sums divided
# once in double precision, so both databases give the same figures to the last digit.
FIGURES_CTES = """
WITH members AS (
    SELECT en.id AS enrollment_id, en.protocol_id, en.arm_id, en.start_date,
           {as_of_offset} AS as_of_offset,
           {limit_offset} AS limit_offset
    FROM diary_enrollment en
    WHERE en.id IN ({enrollment_ids})
), spans AS (
    SELECT arm_id, "order", kind, days,
           SUM(days) OVER arm_days - days AS first_offset,
           SUM(days) OVER arm_days - 1 AS last_offset,
           SUM(CASE WHEN kind IN ({treatment_kinds}) THEN 1 ELSE 0 END) OVER arm_days
               AS treatment_number,
           MIN(CASE WHEN kind = 'baseline' THEN "order" END) OVER (PARTITION BY arm_id)
               AS baseline_order
    FROM diary_phase
    WINDOW arm_days AS (PARTITION BY arm_id ORDER BY "order")
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
    WHERE NOT e.voided AND e.date <= %s AND en.id IN ({enrollment_ids})
    GROUP BY e.enrollment_id, s."order"
), phases AS (
    SELECT m.enrollment_id, m.protocol_id, s."order", s.kind, s.treatment_number,
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
           CAST(b.pain_sum AS DOUBLE PRECISION) / b.n AS baseline_mean
    FROM members m
    JOIN spans s ON s.arm_id = m.arm_id
    LEFT JOIN sums x ON x.enrollment_id = m.enrollment_id AND x."order" = s."order"
    LEFT JOIN sums b ON b.enrollment_id = m.enrollment_id AND b."order" = s.baseline_order
), figures AS (
    SELECT p.*,
           CASE WHEN p.kind <> 'baseline' AND p.baseline_mean <> 0
                THEN 100 * (p.baseline_mean - p.pain_mean) / p.baseline_mean
           END AS pain_reduction_pct,
           CASE WHEN p.kind <> 'baseline' AND p.baseline_mean <> 0
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

# DOMAIN.md's cohort figures, per protocol and phase group (a phase kind; for a blinded
# reader, a treatment phase is grouped by its number instead). The patients' phase
# figures are aggregated where they are, so only a few rows leave the database; each
# row also carries its protocol's enrollment count and LDN-versus-placebo comparison.
COHORT_SQL = (
    FIGURES_CTES
    + """
, grouped AS (
    SELECT f.*,
           CASE WHEN f.protocol_id IN ({blinded_protocols}) AND f.kind IN ({treatment_kinds})
                THEN NULL ELSE f.kind END AS group_kind,
           CASE WHEN f.protocol_id IN ({blinded_protocols}) AND f.kind IN ({treatment_kinds})
                THEN f.treatment_number END AS group_number
    FROM figures f
), spread AS (
    -- Each phase mean next to its group's mean, for the SD between patients.
    SELECT g.*, AVG(g.pain_mean) OVER (
               PARTITION BY g.protocol_id, g.group_kind, g.group_number
           ) AS group_pain_mean
    FROM grouped g
), cohort AS (
    SELECT protocol_id, group_kind, group_number,
           COUNT(DISTINCT CASE WHEN entries > 0 THEN enrollment_id END) AS patients,
           -- (PostgreSQL sums bigints as numeric: cast back to keep integers.)
           CAST(SUM(entries) AS BIGINT) AS entries,
           CAST(SUM(elapsed_days) AS BIGINT) AS elapsed_days,
           COUNT(CASE WHEN entries > 0 THEN 1 END) AS contributing,
           AVG(pain_mean) AS pain_mean,
           CASE WHEN COUNT(pain_mean) >= 2 THEN SQRT(
               SUM((pain_mean - group_pain_mean) * (pain_mean - group_pain_mean))
               / (COUNT(pain_mean) - 1)) END AS pain_sd,
           AVG(fatigue_mean) AS fatigue_mean,
           AVG(sleep_quality_mean) AS sleep_quality_mean,
           AVG(tolerability_mean) AS tolerability_mean,
           AVG(pain_reduction_pct) AS pain_reduction_pct_mean,
           AVG(pain_endpoint_reduction_pct) AS pain_endpoint_reduction_pct_mean,
           COUNT(pain_reduction_pct) AS reductions,
           COUNT(CASE WHEN pain_reduction_pct >= {responder_30} THEN 1 END) AS responders_30,
           COUNT(CASE WHEN pain_reduction_pct >= {responder_50} THEN 1 END) AS responders_50,
           COUNT(CASE WHEN entries > 0 AND vivid_dreams_days > 0 THEN 1 END) AS with_dreams,
           COUNT(CASE WHEN entries > 0 AND headache_days > 0 THEN 1 END) AS with_headache
    FROM spread
    GROUP BY protocol_id, group_kind, group_number
), treatment_means AS (
    SELECT protocol_id, enrollment_id,
           AVG(CASE WHEN kind = 'ldn' THEN pain_mean END) AS ldn,
           AVG(CASE WHEN kind = 'placebo' THEN pain_mean END) AS placebo
    FROM figures
    GROUP BY protocol_id, enrollment_id
), comparison AS (
    SELECT protocol_id, COUNT(*) AS comparison_patients,
           AVG(ldn) AS comparison_ldn, AVG(placebo) AS comparison_placebo
    FROM treatment_means
    WHERE ldn IS NOT NULL AND placebo IS NOT NULL
    GROUP BY protocol_id
), enrolled AS (
    SELECT protocol_id, COUNT(*) AS enrollments FROM members GROUP BY protocol_id
)
SELECT enrolled.*, cohort.group_kind, cohort.group_number, cohort.patients,
       cohort.entries, cohort.elapsed_days, cohort.contributing, cohort.pain_mean,
       cohort.pain_sd, cohort.fatigue_mean, cohort.sleep_quality_mean,
       cohort.tolerability_mean, cohort.pain_reduction_pct_mean,
       cohort.pain_endpoint_reduction_pct_mean, cohort.reductions, cohort.responders_30,
       cohort.responders_50, cohort.with_dreams, cohort.with_headache,
       comparison.comparison_patients, comparison.comparison_ldn,
       comparison.comparison_placebo
FROM enrolled
LEFT JOIN cohort ON cohort.protocol_id = enrolled.protocol_id
LEFT JOIN comparison ON comparison.protocol_id = enrolled.protocol_id
"""
)

# Whole days from one date column (or parameter) to another, per database.
DAYS_BETWEEN_SQL = {
    "postgresql": "({later} - {earlier})",
    "sqlite": "CAST(julianday({later}) - julianday({earlier}) AS INTEGER)",
}


def _run(template: str, enrollment_ids, as_of: dt.date, **extra) -> list[dict]:
    """Run one of the queries above over `enrollment_ids` (a queryset of ids, which
    goes in as a subquery, so the query has the same size for any number of patients)
    and return its rows as dicts."""
    try:
        ids_sql, ids_params = enrollment_ids.query.sql_with_params()
    except EmptyResultSet:  # e.g. .none(): no enrollment, nothing to sum
        return []
    days = DAYS_BETWEEN_SQL[connection.vendor]
    # The last day that elapses: the as-of date, or the withdrawal if that is earlier.
    limit = "CASE WHEN en.withdrawn_on < %s THEN en.withdrawn_on ELSE %s END"
    treatment_kinds = ", ".join(f"'{kind.value}'" for kind in TREATMENT_KINDS)
    sql = template.format(
        as_of_offset=days.format(later="%s", earlier="en.start_date"),
        limit_offset=days.format(later=f"({limit})", earlier="en.start_date"),
        entry_offset=days.format(later="e.date", earlier="en.start_date"),
        enrollment_ids=ids_sql,
        treatment_kinds=treatment_kinds,
        endpoint_days=ENDPOINT_DAYS,
        **extra,
    )
    # Parameters in the order they appear: as-of offset, withdrawal limit (twice),
    # the enrollments' subquery; the entries' as-of bound and the subquery again.
    params = [as_of, as_of, as_of, *ids_params, as_of, *ids_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def phase_figures(enrollment_ids, as_of: dt.date) -> dict:
    """{(enrollment id, phase order): that phase's figures} in one query."""
    rows = _run(PATIENT_FIGURES_SQL, enrollment_ids, as_of)
    return {(row["enrollment_id"], row["order"]): row for row in rows}


def _phase_summary(span: PhaseSpan, row: dict, blinded: bool) -> PhaseSummary:
    elapsed, entries = row["elapsed_days"], row["entries"]
    compliance = pct(entries, elapsed)
    return PhaseSummary(
        order=span.order,
        kind=None if blinded and span.is_treatment else span.kind,
        label=span.label(blinded),
        start=span.start,
        end=span.end,
        elapsed_days=elapsed,
        entries=entries,
        compliance_pct=compliance,
        low_compliance=elapsed > 0 and compliance < LOW_COMPLIANCE_PCT,
        pain_mean=row["pain_mean"],
        pain_sd=row["pain_sd"],
        pain_reduction_pct=row["pain_reduction_pct"],
        pain_endpoint=row["pain_endpoint"],
        pain_endpoint_reduction_pct=row["pain_endpoint_reduction_pct"],
        fatigue_mean=row["fatigue_mean"],
        sleep_quality_mean=row["sleep_quality_mean"],
        tolerability_mean=row["tolerability_mean"],
        vivid_dreams_days=row["vivid_dreams_days"],
        vivid_dreams_pct=pct(row["vivid_dreams_days"], entries),
        headache_days=row["headache_days"],
        headache_pct=pct(row["headache_days"], entries),
        late_entries=row["late_entries"],
    )


def patient_summary(enrollment: Enrollment, figures: dict, blinded: bool) -> PatientSummary:
    phases = [
        _phase_summary(span, figures[(enrollment.pk, span.order)], blinded)
        for span in enrollment.schedule
    ]
    return PatientSummary(enrollment=enrollment, blinded=blinded, phases=phases)


def summarize_enrollment(enrollment: Enrollment, as_of: dt.date, blinded: bool):
    """The per-phase summary of one patient (one aggregate query)."""
    figures = phase_figures(Enrollment.objects.filter(pk=enrollment.pk).values("pk"), as_of)
    return patient_summary(enrollment, figures, blinded)


# Cohort ---------------------------------------------------------------------------


KIND_ORDER = [kind.value for kind in PhaseKind]


def _cohort_row(row: dict) -> CohortSummary:
    kind, number = row["group_kind"], row["group_number"]
    label = treatment_label(number) if kind is None else PhaseKind(kind).label
    is_baseline = kind == PhaseKind.BASELINE

    def unless_baseline(value):
        return None if is_baseline else value

    return CohortSummary(
        kind=kind,
        label=label,
        patients=row["patients"],
        compliance_pct=pct(row["entries"], row["elapsed_days"]),
        pain_mean=row["pain_mean"],
        pain_sd=row["pain_sd"],
        fatigue_mean=row["fatigue_mean"],
        sleep_quality_mean=row["sleep_quality_mean"],
        tolerability_mean=row["tolerability_mean"],
        pain_reduction_pct_mean=unless_baseline(row["pain_reduction_pct_mean"]),
        pain_endpoint_reduction_pct_mean=unless_baseline(row["pain_endpoint_reduction_pct_mean"]),
        responders_30=unless_baseline(row["responders_30"]),
        responders_30_pct=unless_baseline(pct(row["responders_30"], row["reductions"])),
        responders_50=unless_baseline(row["responders_50"]),
        responders_50_pct=unless_baseline(pct(row["responders_50"], row["reductions"])),
        vivid_dreams_incidence_pct=pct(row["with_dreams"], row["contributing"]),
        headache_incidence_pct=pct(row["with_headache"], row["contributing"]),
    )


def _cohort_rank(row: CohortSummary, number) -> tuple:
    """Baseline first, then (blinded) the numbered treatment periods, then the other
    kinds in their natural order."""
    if row.kind is None:
        return (1, number)
    return (0 if row.kind == PhaseKind.BASELINE else 2, KIND_ORDER.index(row.kind))


def _comparison(row: dict) -> LdnVsPlacebo:
    pain_ldn, pain_placebo = row["comparison_ldn"], row["comparison_placebo"]
    relative = None
    if pain_ldn is not None and pain_placebo:
        relative = 100 * (pain_placebo - pain_ldn) / pain_placebo
    return LdnVsPlacebo(
        patients=row["comparison_patients"] or 0,
        pain_mean_ldn=pain_ldn,
        pain_mean_placebo=pain_placebo,
        relative_reduction_pct=relative,
    )


def protocol_blinded(protocol: Protocol, user=None, unblinded: bool = False) -> bool:
    """Whether cohort figures of `protocol` must be blinded for `user` (or, without a
    user, for a blinded physician, as exports are): double blind until unblinded."""
    if unblinded or (user is not None and user.is_coordinator):
        return False
    return protocol.blinding == Blinding.DOUBLE and protocol.unblinded_at is None


def study_today() -> dt.date:
    """The default as-of date of every summary (pages and exports alike): today in the
    study's time zone (settings.TIME_ZONE)."""
    return timezone.localdate()


def _add_cohorts(by_protocol: dict[int, ProtocolSummary], enrollments, as_of: dt.date):
    """Fill in the cohort figures of every protocol in `by_protocol` (one query)."""
    blinded_ids = [pk for pk, summary in by_protocol.items() if summary.blinded]
    rows = _run(
        COHORT_SQL,
        enrollments.values("pk"),
        as_of,
        # Plain integers from our own database; NULL keeps the list valid when empty.
        blinded_protocols=", ".join(str(int(pk)) for pk in blinded_ids) or "NULL",
        responder_30=RESPONDER_THRESHOLDS[0],
        responder_50=RESPONDER_THRESHOLDS[1],
    )
    ranked = defaultdict(list)
    for row in rows:
        summary = by_protocol.get(row["protocol_id"])
        if summary is None:  # enrolled while the summary was being read
            continue
        summary.enrollments = row["enrollments"]
        if not summary.blinded:
            summary.ldn_vs_placebo = _comparison(row)
        if row["patients"] is not None:  # None: the arms have no phases
            cohort_row = _cohort_row(row)
            rank = _cohort_rank(cohort_row, row["group_number"])
            ranked[summary.protocol.pk].append((rank, cohort_row))
    for pk, summary in by_protocol.items():
        summary.cohort = [row for _, row in sorted(ranked[pk], key=lambda pair: pair[0])]
    return [summary for summary in by_protocol.values() if summary.enrollments]


def cohort_summaries(enrollments, as_of: dt.date, *, user=None, unblinded=False):
    """The cohort summaries of `enrollments` (a queryset), per protocol, without the
    per-patient rows: two queries (protocols, one aggregate) for any number of patients.

    Screening enrollments are left out: their schedule has not begun.
    """
    enrollments = enrollments.exclude(status=EnrollmentStatus.SCREENING)
    protocols = Protocol.objects.filter(pk__in=enrollments.values("protocol_id")).order_by("slug")
    by_protocol = {
        protocol.pk: ProtocolSummary(
            protocol=protocol, blinded=protocol_blinded(protocol, user, unblinded)
        )
        for protocol in protocols
    }
    return _add_cohorts(by_protocol, enrollments, as_of)


def summarize(enrollments, as_of: dt.date, *, user=None, unblinded=False):
    """Per-patient and cohort summaries of `enrollments` (a queryset), per protocol.

    Five queries for any number of patients: the enrollments with their schedules
    (three), the patients' phase figures and the cohort figures (one each).
    Screening enrollments are left out: their schedule has not begun.
    """
    enrollments = enrollments.exclude(status=EnrollmentStatus.SCREENING)
    loaded = enrollments.order_by("protocol__slug", "study_id").load_with_schedules()
    figures = phase_figures(enrollments.values("pk"), as_of)
    by_protocol: dict[int, ProtocolSummary] = {}
    for enrollment in loaded:
        if any((enrollment.pk, span.order) not in figures for span in enrollment.schedule):
            continue  # changed while the summary was being read; left for the next one
        protocol = enrollment.protocol
        if protocol.pk not in by_protocol:
            by_protocol[protocol.pk] = ProtocolSummary(
                protocol=protocol, blinded=protocol_blinded(protocol, user, unblinded)
            )
        summary = by_protocol[protocol.pk]
        blinded = summary.blinded
        if user is not None and not unblinded:
            blinded = enrollment.is_blinded_for(user)
        summary.patients.append(patient_summary(enrollment, figures, blinded))
    return _add_cohorts(by_protocol, enrollments, as_of)
