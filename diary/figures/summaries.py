"""The cohort summaries of docs/domain.md ("Summary figures"), per protocol: each phase
kind's (or, blinded, each phase label's) figures over its patients, and LDN versus
placebo.

They are worked out here from the patients' phase rows of diary.figures.patient_figures
(one query for both): each patient's means weigh the same, and the cohort figures are
computed from the same double-precision numbers on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from diary.figures.patient_figures import PatientSummary, patient_summary, pct, phase_rows

# views.clinic and files.reports still ask it of this module.
from diary.figures.patient_figures import summarize_enrollment as summarize_enrollment
from diary.trial import blinding
from diary.trial.dates import date_problem, study_today
from diary.trial.models import EnrollmentStatus, Protocol, load_protocols
from diary.trial.phases import PhaseKind, Schedule
from diary.visits.measures import MEASURE_NAMES

# IMMPACT: >= 30% is a moderately important, >= 50% a substantial reduction of pain.
RESPONDER_THRESHOLDS = (30, 50)


# Figures --------------------------------------------------------------------------


@dataclass
class CohortSummary:
    """Every cohort figure for one phase kind (or, blinded, one phase label)."""

    kind: str | None
    label: str
    patients: int
    compliance_pct: float | None
    pain_mean: float | None
    pain_sd: float | None
    pain_reduction_pct_mean: float | None
    pain_endpoint_reduction_pct_mean: float | None
    responders_30: int | None
    responders_30_pct: float | None
    responders_50: int | None
    responders_50_pct: float | None
    fatigue_mean: float | None
    sleep_quality_mean: float | None
    tolerability_mean: float | None
    vivid_dreams_incidence_pct: float | None
    headache_incidence_pct: float | None
    # The clinic measures: means of the patients' values and changes from baseline, and
    # the patients with a value.
    esr_mean: float | None
    esr_change_mean: float | None
    esr_patients: int
    pressure_threshold_mean: float | None
    pressure_threshold_change_mean: float | None
    pressure_threshold_patients: int
    heat_threshold_mean: float | None
    heat_threshold_change_mean: float | None
    heat_threshold_patients: int


@dataclass
class LdnVsPlacebo:
    patients: int
    pain_mean_ldn: float | None
    pain_mean_placebo: float | None
    relative_reduction_pct: float | None
    # The thresholds' changes from baseline on LDN and on placebo, over the patients
    # with a change on both.
    pressure_threshold_change_ldn: float | None
    pressure_threshold_change_placebo: float | None
    pressure_threshold_patients: int
    heat_threshold_change_ldn: float | None
    heat_threshold_change_placebo: float | None
    heat_threshold_patients: int


@dataclass(frozen=True)
class EsrPoint:
    """One patient of the ESR-and-response figure: her baseline ESR (mm/h) and her pain
    reduction on LDN (%)."""

    study_id: str
    baseline_esr: int
    pain_reduction_pct: float


@dataclass
class EsrResponse:
    """Baseline ESR against pain reduction on LDN (the pilot's finding), over the
    patients with both; rho and r are None below 3 patients or when either is
    constant. `points` are the patients' pairs (pages plot them; files leave them out)."""

    patients: int
    spearman_rho: float | None
    pearson_r: float | None
    points: list[EsrPoint] = field(default_factory=list)


@dataclass
class ProtocolSummary:
    protocol: Protocol
    blinded: bool
    enrollments: int = 0  # summarized (screening left out)
    patients: list[PatientSummary] = field(default_factory=list)
    cohort: list[CohortSummary] = field(default_factory=list)
    ldn_vs_placebo: LdnVsPlacebo | None = None
    # Only where the reader may see kinds (None on a protocol still blinded to her).
    esr_response: EsrResponse | None = None


# Cohort ---------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _sample_sd(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((value - mean) * (value - mean) for value in values) / (len(values) - 1))


def _present(rows: list[dict], name: str) -> list[float]:
    return [row[name] for row in rows if row[name] is not None]


def _cohort_row(group: list[dict]) -> CohortSummary:
    """The cohort figures of one phase group (docs/domain.md), from the patients' phase
    rows of that group: each patient's means weigh the same."""
    baseline = max(row["is_baseline"] for row in group) == 1
    contributing = [row for row in group if row["entries"] > 0]
    reductions = _present(group, "pain_reduction_pct")

    def unless_baseline(value):
        return None if baseline else value

    responders = {
        threshold: sum(1 for value in reductions if value >= threshold)
        for threshold in RESPONDER_THRESHOLDS
    }
    measures = {}
    for name in MEASURE_NAMES:
        measures[f"{name}_mean"] = _mean(_present(group, name))
        measures[f"{name}_change_mean"] = _mean(_present(group, f"{name}_change"))
        measures[f"{name}_patients"] = len(
            {row["enrollment_id"] for row in group if row[name] is not None}
        )
    first = group[0]
    return CohortSummary(
        **measures,
        kind=first["kind"],
        label=first["label"],
        patients=len({row["enrollment_id"] for row in contributing}),
        compliance_pct=pct(
            sum(row["entries"] for row in group), sum(row["elapsed_days"] for row in group)
        ),
        pain_mean=_mean(_present(group, "pain_mean")),
        pain_sd=_sample_sd(_present(group, "pain_mean")),
        fatigue_mean=_mean(_present(group, "fatigue_mean")),
        sleep_quality_mean=_mean(_present(group, "sleep_quality_mean")),
        tolerability_mean=_mean(_present(group, "tolerability_mean")),
        pain_reduction_pct_mean=unless_baseline(_mean(reductions)),
        pain_endpoint_reduction_pct_mean=unless_baseline(
            _mean(_present(group, "pain_endpoint_reduction_pct"))
        ),
        responders_30=unless_baseline(responders[30]),
        responders_30_pct=unless_baseline(pct(responders[30], len(reductions))),
        responders_50=unless_baseline(responders[50]),
        responders_50_pct=unless_baseline(pct(responders[50], len(reductions))),
        vivid_dreams_incidence_pct=pct(
            sum(1 for row in contributing if row["vivid_dreams_days"] > 0), len(contributing)
        ),
        headache_incidence_pct=pct(
            sum(1 for row in contributing if row["headache_days"] > 0), len(contributing)
        ),
    )


def _ldn_and_placebo(rows: list[dict], name: str) -> list[tuple[float, float]]:
    """Each patient's (LDN, placebo) value of the column `name`, over the patients with
    it on both (a patient with two phases of a kind gives the mean of the two)."""
    by_patient: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["kind"] in (PhaseKind.LDN, PhaseKind.PLACEBO) and row[name] is not None:
            by_patient[row["enrollment_id"]][row["kind"]].append(row[name])
    return [
        (_mean(values[PhaseKind.LDN]), _mean(values[PhaseKind.PLACEBO]))
        for values in by_patient.values()
        if values[PhaseKind.LDN] and values[PhaseKind.PLACEBO]
    ]


def _comparison(rows: list[dict]) -> LdnVsPlacebo:
    """LDN versus placebo over the patients with a mean pain on both, and each
    threshold's change over the patients with a change on both (docs/domain.md)."""
    both = _ldn_and_placebo(rows, "pain_mean")
    pain_ldn = _mean([ldn for ldn, _ in both])
    pain_placebo = _mean([placebo for _, placebo in both])
    relative = None
    if pain_ldn is not None and pain_placebo:
        relative = 100 * (pain_placebo - pain_ldn) / pain_placebo
    thresholds = {}
    for name in ("pressure_threshold", "heat_threshold"):
        changes = _ldn_and_placebo(rows, f"{name}_change")
        thresholds[f"{name}_change_ldn"] = _mean([ldn for ldn, _ in changes])
        thresholds[f"{name}_change_placebo"] = _mean([placebo for _, placebo in changes])
        thresholds[f"{name}_patients"] = len(changes)
    return LdnVsPlacebo(
        patients=len(both),
        pain_mean_ldn=pain_ldn,
        pain_mean_placebo=pain_placebo,
        relative_reduction_pct=relative,
        **thresholds,
    )


def _average_ranks(values: list[float]) -> list[float]:
    """The ranks of `values` (1 = smallest), ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r; None below 3 pairs or when either variable is constant."""
    if len(xs) < 3 or len(set(xs)) == 1 or len(set(ys)) == 1:
        return None
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    dx = [x - mean_x for x in xs]
    dy = [y - mean_y for y in ys]
    sxx = sum(d * d for d in dx)
    syy = sum(d * d for d in dy)
    return sum(a * b for a, b in zip(dx, dy, strict=True)) / math.sqrt(sxx * syy)


def _esr_response(rows: list[dict]) -> EsrResponse:
    """Baseline ESR against pain reduction on LDN, over the enrollments with both
    (docs/domain.md). A patient with several LDN phases (as the reader sees them) gives
    the mean of her non-null LDN reductions, so each patient is one point. Spearman's
    rho is Pearson's r on the ranks, ties taking their average rank."""
    baseline: dict[int, int] = {}
    study_ids: dict[int, str] = {}
    reductions: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        if row["baseline_esr"] is not None:
            baseline[row["enrollment_id"]] = row["baseline_esr"]
            study_ids[row["enrollment_id"]] = row["study_id"]
        if row["kind"] == PhaseKind.LDN and row["pain_reduction_pct"] is not None:
            reductions[row["enrollment_id"]].append(row["pain_reduction_pct"])
    points = sorted(
        (
            EsrPoint(study_ids[pk], esr, _mean(reductions[pk]))
            for pk, esr in baseline.items()
            if reductions[pk]
        ),
        key=lambda point: point.study_id,
    )
    xs = [float(point.baseline_esr) for point in points]
    ys = [point.pain_reduction_pct for point in points]
    return EsrResponse(
        patients=len(points),
        spearman_rho=_pearson(_average_ranks(xs), _average_ranks(ys)),
        pearson_r=_pearson(xs, ys),
        points=points,
    )


def as_of_problem(as_of: dt.date) -> str | None:
    """Figures are taken as of a day already lived: never after today (a day not yet
    lived would count as missed), and within the input limits (models.date_problem)."""
    problem = date_problem(as_of, f"The as-of date {as_of.isoformat()}")
    if problem:
        return f"{problem}; pick a later day."
    today = study_today()
    if as_of > today:
        return (
            f"The as-of date {as_of:%Y-%m-%d} is after today ({today:%Y-%m-%d}); "
            "pick today or earlier."
        )
    return None


def _summaries(protocols, reader) -> dict[int, ProtocolSummary]:
    return {
        protocol.pk: ProtocolSummary(
            protocol=protocol, blinded=blinding.is_blinded(reader, protocol)
        )
        for protocol in sorted(protocols, key=lambda protocol: protocol.slug)
    }


def _add_cohorts(by_protocol: dict[int, ProtocolSummary], rows: list[dict]):
    """Fill in the cohort figures of every protocol in `by_protocol` from its patients'
    phase rows (the figures query's rows): phases of one kind pool across arms; a
    blinded reader's treatment phases (kind null) group by their label."""
    rows_of = defaultdict(list)
    for row in rows:
        rows_of[row["protocol_id"]].append(row)
    for pk, summary in by_protocol.items():
        protocol_rows = rows_of[pk]
        summary.enrollments = len({row["enrollment_id"] for row in protocol_rows})
        groups = defaultdict(list)
        for row in protocol_rows:
            groups[(row["kind"], row["label"])].append(row)
        ranked = sorted(groups.values(), key=lambda group: min(row["rank"] for row in group))
        summary.cohort = [_cohort_row(group) for group in ranked]
        if not summary.blinded:
            summary.ldn_vs_placebo = _comparison(protocol_rows)
            summary.esr_response = _esr_response(protocol_rows)
    return [summary for summary in by_protocol.values() if summary.enrollments]


def cohort_summaries(enrollments, as_of: dt.date, reader) -> list[ProtocolSummary]:
    """The cohort summaries of `enrollments` (a queryset), per protocol, as `reader` may
    see them, without the per-patient summaries: two queries (protocols with their
    phases, the patients' phase figures) for any number of patients.

    Screening enrollments are left out: their schedule has not begun.
    """
    enrollments = enrollments.exclude(status=EnrollmentStatus.SCREENING)
    protocols, _arms = load_protocols(enrollments.values("protocol_id"))
    plans = blinding.plans_by_arm(protocols.values(), reader)
    rows = phase_rows(enrollments.values("pk"), plans, as_of)
    return _add_cohorts(_summaries(protocols.values(), reader), rows)


# What a summary reads of each enrollment (its schedule, blinding and identity): the
# other columns are not loaded, which halves the time of a summary of thousands.
SUMMARY_FIELDS = (
    "study_id",
    "status",
    "protocol_id",
    "arm_id",
    "patient_id",
    "physician_id",
    "start_date",
    "withdrawn_on",
    "timezone",
    "zone_changes",
    "care_team_unblinded_at",
    "patient_unblinded_at",
    "locked_at",
    "randomization_number",
)


def summarize(enrollments, as_of: dt.date, reader) -> list[ProtocolSummary]:
    """Per-patient and cohort summaries of `enrollments` (a queryset), per protocol, as
    `reader` may see them (each protocol as a whole: a file shows what a blinded
    physician sees, whatever one patient's care team was told).

    Three queries for any number of patients: the enrollments, the protocols with their
    arms' phases, and the patients' phase figures (the cohort is worked out from them).
    Screening enrollments are left out: their schedule has not begun.
    """
    enrollments = enrollments.exclude(status=EnrollmentStatus.SCREENING)
    loaded = (
        enrollments.order_by("protocol__slug", "study_id")
        .only(*SUMMARY_FIELDS)
        .load_with_schedules()
    )
    protocols = {enrollment.protocol.pk: enrollment.protocol for enrollment in loaded}
    plans = blinding.plans_by_arm(protocols.values(), reader)
    rows = phase_rows(enrollments.values("pk"), plans, as_of)
    figures = {(row["enrollment_id"], row["order"]): row for row in rows}
    by_protocol = _summaries(protocols.values(), reader)
    for enrollment in loaded:
        schedule = Schedule(enrollment.start_date, plans.get(enrollment.arm_id, []))
        if any((enrollment.pk, span.order) not in figures for span in schedule):
            continue  # changed while the summary was being read; left for the next one
        summary = by_protocol[enrollment.protocol.pk]
        summary.patients.append(patient_summary(enrollment, schedule, figures, reader))
    return _add_cohorts(by_protocol, rows)
