"""Per-phase and cohort summaries of DOMAIN.md ("Summary figures"), aggregated in SQL.

One aggregate query places every counting entry in its phase and sums it up per
enrollment and phase; everything else is arithmetic on those few rows (one per
patient and phase), never a loop over entries. Means and standard deviations come from
integer sums (n, sum, sum of squares), so SQLite and PostgreSQL give the same numbers
to the last digit.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
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
from diary.phases import TREATMENT_KINDS, PhaseSpan

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
    patients: list[PatientSummary] = field(default_factory=list)
    cohort: list[CohortSummary] = field(default_factory=list)
    ldn_vs_placebo: LdnVsPlacebo | None = None


# Arithmetic helpers ---------------------------------------------------------------


def pct(part, whole) -> float | None:
    if part is None or not whole:
        return None
    return 100 * part / whole


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def sample_sd(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) >= 2 else None


def sd_from_sums(n: int, total: int, squares: int) -> float | None:
    """Sample SD (n - 1) from integer sums, exact until the final square root."""
    if n < 2:
        return None
    variance = (n * squares - total * total) / (n * (n - 1))
    return math.sqrt(max(variance, 0.0))


def reduction_pct(baseline: float | None, value: float | None) -> float | None:
    """DOMAIN.md: 100 * (baseline - value) / baseline; null if either is null or the
    baseline is 0. Positive = less pain."""
    if baseline is None or value is None or baseline == 0:
        return None
    return 100 * (baseline - value) / baseline


# The aggregate query --------------------------------------------------------------


# Every counting entry placed in its phase and summed per enrollment and phase. Phases
# are laid end to end from the enrollment's start (DOMAIN.md "Day arithmetic"): a
# window function turns each arm's phase lengths into day offsets, and an entry joins
# the phase whose offsets hold its own (date - start_date). Only integer sums leave
# the database, so the figures are the same to the last digit on SQLite and PostgreSQL.
PHASE_SUMS_SQL = """
WITH spans AS (
    SELECT arm_id, "order",
           SUM(days) OVER arm_days - days AS first_offset,
           SUM(days) OVER arm_days - 1 AS last_offset
    FROM diary_phase
    WINDOW arm_days AS (PARTITION BY arm_id ORDER BY "order")
), placed AS (
    SELECT e.enrollment_id, s."order" AS phase_order, e.pain, e.fatigue, e.sleep_quality,
           e.tolerability, e.vivid_dreams, e.headache, e.late,
           {offset} >= s.last_offset - {endpoint_days} + 1 AS in_endpoint
    FROM diary_diaryentry e
    JOIN diary_enrollment en ON en.id = e.enrollment_id
    JOIN spans s ON s.arm_id = en.arm_id AND {offset} BETWEEN s.first_offset AND s.last_offset
    WHERE NOT e.voided AND e.date <= %s AND e.enrollment_id IN ({enrollment_ids})
)
SELECT enrollment_id, phase_order, COUNT(*), SUM(pain), SUM(pain * pain), SUM(fatigue),
       SUM(sleep_quality), SUM(tolerability), COUNT(tolerability),
       COUNT(*) FILTER (WHERE vivid_dreams), COUNT(*) FILTER (WHERE headache),
       COUNT(*) FILTER (WHERE late),
       SUM(pain) FILTER (WHERE in_endpoint), COUNT(*) FILTER (WHERE in_endpoint)
FROM placed
GROUP BY enrollment_id, phase_order
"""
# Whole days from the enrollment's start to the entry's day.
DAY_OFFSET_SQL = {
    "postgresql": "(e.date - en.start_date)",
    "sqlite": "CAST(julianday(e.date) - julianday(en.start_date) AS INTEGER)",
}
SUM_NAMES = [
    "n",
    "pain_sum",
    "pain_squares",
    "fatigue_sum",
    "sleep_sum",
    "tolerability_sum",
    "tolerability_n",
    "dreams",
    "headaches",
    "late",
    "endpoint_sum",
    "endpoint_n",
]


def phase_sums(enrollment_ids, as_of: dt.date) -> dict:
    """{(enrollment_id, phase order): integer sums} in one query.

    `enrollment_ids` is a queryset of enrollment ids; it goes into the query as a
    subquery, so the query has the same size for any number of patients.
    """
    try:
        ids_sql, ids_params = enrollment_ids.query.sql_with_params()
    except EmptyResultSet:  # e.g. .none(): no enrollment, nothing to sum
        return {}
    sql = PHASE_SUMS_SQL.format(
        offset=DAY_OFFSET_SQL[connection.vendor],
        endpoint_days=ENDPOINT_DAYS,
        enrollment_ids=ids_sql,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [as_of, *ids_params])
        return {
            (row[0], row[1]): dict(zip(SUM_NAMES, row[2:], strict=True))
            for row in cursor.fetchall()
        }


EMPTY_SUMS = {
    "n": 0,
    "pain_sum": None,
    "pain_squares": None,
    "fatigue_sum": None,
    "sleep_sum": None,
    "tolerability_sum": None,
    "tolerability_n": 0,
    "dreams": 0,
    "headaches": 0,
    "late": 0,
    "endpoint_sum": None,
    "endpoint_n": 0,
}


def _phase_summary(
    span: PhaseSpan, sums: dict, as_of: dt.date, withdrawn_on, blinded: bool
) -> PhaseSummary:
    n = sums["n"]
    elapsed = span.elapsed_days(as_of, withdrawn_on)
    compliance = pct(n, elapsed)
    endpoint = None
    if as_of >= span.end and sums["endpoint_n"]:
        endpoint = sums["endpoint_sum"] / sums["endpoint_n"]
    return PhaseSummary(
        order=span.order,
        kind=None if blinded and span.is_treatment else span.kind,
        label=span.label(blinded),
        start=span.start,
        end=span.end,
        elapsed_days=elapsed,
        entries=n,
        compliance_pct=compliance,
        low_compliance=elapsed > 0 and compliance < LOW_COMPLIANCE_PCT,
        pain_mean=sums["pain_sum"] / n if n else None,
        pain_sd=sd_from_sums(n, sums["pain_sum"] or 0, sums["pain_squares"] or 0),
        pain_reduction_pct=None,  # needs the baseline: filled in by patient_summary
        pain_endpoint=endpoint,
        pain_endpoint_reduction_pct=None,
        fatigue_mean=sums["fatigue_sum"] / n if n else None,
        sleep_quality_mean=sums["sleep_sum"] / n if n else None,
        tolerability_mean=(
            sums["tolerability_sum"] / sums["tolerability_n"] if sums["tolerability_n"] else None
        ),
        vivid_dreams_days=sums["dreams"],
        vivid_dreams_pct=pct(sums["dreams"], n),
        headache_days=sums["headaches"],
        headache_pct=pct(sums["headaches"], n),
        late_entries=sums["late"],
    )


def patient_summary(enrollment: Enrollment, sums: dict, as_of: dt.date, blinded: bool):
    spans = list(enrollment.schedule)
    phases = [
        _phase_summary(
            span,
            sums.get((enrollment.pk, span.order), EMPTY_SUMS),
            as_of,
            enrollment.withdrawn_on,
            blinded,
        )
        for span in spans
    ]
    baseline = next(
        (p for p, s in zip(phases, spans, strict=True) if s.kind == PhaseKind.BASELINE), None
    )
    baseline_mean = baseline.pain_mean if baseline else None
    for phase, span in zip(phases, spans, strict=True):
        if span.kind == PhaseKind.BASELINE:
            continue
        phase.pain_reduction_pct = reduction_pct(baseline_mean, phase.pain_mean)
        phase.pain_endpoint_reduction_pct = reduction_pct(baseline_mean, phase.pain_endpoint)
    return PatientSummary(enrollment=enrollment, blinded=blinded, phases=phases)


def summarize_enrollment(enrollment: Enrollment, as_of: dt.date, blinded: bool):
    """The per-phase summary of one patient (one aggregate query)."""
    sums = phase_sums(Enrollment.objects.filter(pk=enrollment.pk).values("pk"), as_of)
    return patient_summary(enrollment, sums, as_of, blinded)


# Cohort ---------------------------------------------------------------------------


def _cohort_row(kind, label, rows: list[tuple[int, PhaseSummary]]) -> CohortSummary:
    """`rows` are (enrollment id, phase figures) of every enrollment's phases of this
    kind; a patient with two phases of one kind contributes each of them."""
    contributing = [phase for _, phase in rows if phase.entries > 0]
    is_baseline = kind == PhaseKind.BASELINE
    reductions = [p.pain_reduction_pct for p in contributing if p.pain_reduction_pct is not None]
    responders = {}
    for threshold in RESPONDER_THRESHOLDS:
        count = None if is_baseline else sum(1 for r in reductions if r >= threshold)
        responders[threshold] = (count, None if is_baseline else pct(count, len(reductions)))
    return CohortSummary(
        kind=kind,
        label=label,
        patients=len({pk for pk, phase in rows if phase.entries > 0}),
        compliance_pct=pct(sum(p.entries for _, p in rows), sum(p.elapsed_days for _, p in rows)),
        pain_mean=mean(p.pain_mean for p in contributing),
        pain_sd=sample_sd([p.pain_mean for p in contributing]),
        fatigue_mean=mean(p.fatigue_mean for p in contributing),
        sleep_quality_mean=mean(p.sleep_quality_mean for p in contributing),
        tolerability_mean=mean(p.tolerability_mean for p in contributing),
        pain_reduction_pct_mean=None if is_baseline else mean(reductions),
        pain_endpoint_reduction_pct_mean=(
            None if is_baseline else mean(p.pain_endpoint_reduction_pct for p in contributing)
        ),
        responders_30=responders[30][0],
        responders_30_pct=responders[30][1],
        responders_50=responders[50][0],
        responders_50_pct=responders[50][1],
        vivid_dreams_incidence_pct=pct(
            sum(1 for p in contributing if p.vivid_dreams_days), len(contributing)
        ),
        headache_incidence_pct=pct(
            sum(1 for p in contributing if p.headache_days), len(contributing)
        ),
    )


KIND_ORDER = [kind.value for kind in PhaseKind]


def cohort(patients: list[PatientSummary], blinded: bool) -> list[CohortSummary]:
    """DOMAIN.md: per phase kind, phases of the same kind in different arms pooled;
    a blinded reader gets them grouped by the label she sees ("Treatment period 1"
    pools arm A's first treatment with arm B's)."""
    groups: dict[tuple, list] = defaultdict(list)
    rank: dict[tuple, tuple] = {}
    for patient in patients:
        for phase, span in zip(patient.phases, patient.enrollment.schedule, strict=True):
            if blinded and span.is_treatment:
                key = (None, span.label(blinded=True))
                position = (1, span.treatment_number)
            else:
                key = (span.kind, span.label(blinded=False))
                position = (
                    0 if span.kind == PhaseKind.BASELINE else 2,
                    KIND_ORDER.index(span.kind),
                )
            groups[key].append((patient.enrollment.pk, phase))
            rank[key] = min(rank.get(key, position), position)
    return [
        _cohort_row(kind, label, groups[(kind, label)])
        for kind, label in sorted(groups, key=rank.get)
    ]


def ldn_vs_placebo(patients: list[PatientSummary]) -> LdnVsPlacebo:
    pairs = []
    for patient in patients:
        by_kind = defaultdict(list)
        for phase, span in zip(patient.phases, patient.enrollment.schedule, strict=True):
            if span.kind in TREATMENT_KINDS and phase.entries > 0:
                by_kind[span.kind].append(phase.pain_mean)
        if by_kind[PhaseKind.LDN] and by_kind[PhaseKind.PLACEBO]:
            pairs.append((mean(by_kind[PhaseKind.LDN]), mean(by_kind[PhaseKind.PLACEBO])))
    pain_ldn = mean(ldn for ldn, _ in pairs)
    pain_placebo = mean(placebo for _, placebo in pairs)
    relative = None
    if pain_ldn is not None and pain_placebo:
        relative = 100 * (pain_placebo - pain_ldn) / pain_placebo
    return LdnVsPlacebo(
        patients=len(pairs),
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


def summarize(enrollments, as_of: dt.date, *, user=None, unblinded=False):
    """Per-patient and cohort summaries of `enrollments` (a queryset), per protocol.

    Screening enrollments are left out: their schedule has not begun. A fixed number
    of queries: enrollments, arms, phases, one aggregate.
    """
    enrollments = enrollments.exclude(status=EnrollmentStatus.SCREENING)
    loaded = enrollments.order_by("protocol__slug", "study_id").load_with_schedules()
    sums = phase_sums(enrollments.values("pk"), as_of)
    by_protocol: dict[int, ProtocolSummary] = {}
    for enrollment in loaded:
        protocol = enrollment.protocol
        if protocol.pk not in by_protocol:
            by_protocol[protocol.pk] = ProtocolSummary(
                protocol=protocol, blinded=protocol_blinded(protocol, user, unblinded)
            )
        summary = by_protocol[protocol.pk]
        blinded = summary.blinded
        if user is not None and not unblinded:
            blinded = enrollment.is_blinded_for(user)
        summary.patients.append(patient_summary(enrollment, sums, as_of, blinded))
    for summary in by_protocol.values():
        summary.cohort = cohort(summary.patients, summary.blinded)
        if not summary.blinded:
            summary.ldn_vs_placebo = ldn_vs_placebo(summary.patients)
    return list(by_protocol.values())
