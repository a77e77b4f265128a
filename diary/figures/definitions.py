"""What each summary figure is called and means, for pages, footnotes and CSV headers.

The definitions follow docs/domain.md in readers' words; a page shows them beside the
figures so a reader knows what "compliance" or "responder" means. The figures are the
fields of the summaries' dataclasses, in their order: a field without a definition here
fails at import, and a definition without a field cannot exist.
"""

from dataclasses import dataclass, fields

from diary.figures.patient_figures import LOW_COMPLIANCE_PCT, PhaseSummary
from diary.figures.summaries import CohortSummary, LdnVsPlacebo


@dataclass(frozen=True)
class Figure:
    name: str  # the field of PhaseSummary / CohortSummary / LdnVsPlacebo
    label: str
    definition: str
    suffix: str = ""  # "%" for percentages


# Fields that say which phase a row is, or flag a figure: not figures themselves.
IDENTITY = {"order", "kind", "label", "start", "end", "low_compliance"}


def figures_of(summary_class, definitions: dict) -> list[Figure]:
    """The figures of `summary_class` in its field order, from `definitions` ({field:
    (label, definition[, suffix])}); every figure field must have one."""
    names = [f.name for f in fields(summary_class) if f.name not in IDENTITY]
    missing = set(names) ^ set(definitions)
    if missing:
        raise ValueError(
            f"{summary_class.__name__}: figures without a field or definition: {missing}"
        )
    return [Figure(name, *definitions[name]) for name in names]


PATIENT_FIGURES = figures_of(
    PhaseSummary,
    {
        "elapsed_days": (
            "Elapsed days",
            "Days of the phase up to the as-of date, or up to the withdrawal date; 0 if the phase "
            "has not begun.",
        ),
        "entries": (
            "Entries",
            "Diary days recorded in the phase; voided entries are left out of every figure.",
        ),
        "compliance_pct": (
            "Compliance",
            f"Entries as a share of elapsed days; below {LOW_COMPLIANCE_PCT}% is flagged.",
            "%",
        ),
        "pain_mean": (
            "Pain, mean",
            "Mean daily pain (0 = no pain, 10 = worst) over the phase's entries.",
        ),
        "pain_sd": (
            "Pain, SD",
            "Sample standard deviation of daily pain; needs at least 2 entries.",
        ),
        "pain_reduction_pct": (
            "Pain reduction",
            "How much lower the phase's mean pain is than the patient's baseline mean, in % of the"
            " baseline. Positive = less pain.",
            "%",
        ),
        "pain_endpoint": (
            "Pain end point",
            "The trials' end point: mean pain of the phase's last 3 days, once the phase has "
            "ended.",
        ),
        "pain_endpoint_reduction_pct": (
            "End-point reduction",
            "Reduction of the end point against the baseline mean, in % of the baseline.",
            "%",
        ),
        "fatigue_mean": ("Fatigue, mean", "Mean daily fatigue (0-10; lower is better)."),
        "sleep_quality_mean": (
            "Sleep quality, mean",
            "Mean sleep quality (0-10; higher is better).",
        ),
        "tolerability_mean": (
            "Tolerability, mean",
            "Mean tolerability of the study capsules (0-100) over the entries that answered it "
            "(treatment phases).",
        ),
        "vivid_dreams_days": (
            "Vivid-dream days",
            "Entries answering yes to vivid or unusual dreams.",
        ),
        "vivid_dreams_pct": ("Vivid dreams", "Vivid-dream days in % of entries.", "%"),
        "headache_days": ("Headache days", "Entries answering yes to headache."),
        "headache_pct": ("Headache", "Headache days in % of entries.", "%"),
        "late_entries": (
            "Late entries",
            "Entries first saved by the patient after their day had ended.",
        ),
    },
)

COHORT_FIGURES = figures_of(
    CohortSummary,
    {
        "patients": ("Patients", "Patients with at least one entry in a phase of this kind."),
        "compliance_pct": (
            "Compliance",
            "All entries in % of all elapsed days, over every enrollment.",
            "%",
        ),
        "pain_mean": (
            "Pain, mean",
            "Mean of the patients' mean pain: each patient weighs the same.",
        ),
        "pain_sd": (
            "Pain, SD",
            "Sample standard deviation of the patients' mean pain; needs at least 2 patients.",
        ),
        "pain_reduction_pct_mean": (
            "Pain reduction, mean",
            "Mean of the patients' pain reductions against their own baseline.",
            "%",
        ),
        "pain_endpoint_reduction_pct_mean": (
            "End-point reduction, mean",
            "Mean of the patients' end-point (last 3 days) reductions against their own baseline.",
            "%",
        ),
        "responders_30": (
            "Responders ≥30%",
            "Patients whose pain fell by at least 30% from baseline (IMMPACT: moderately "
            "important).",
        ),
        "responders_30_pct": (
            "Responders ≥30%, share",
            "Responders ≥30% in % of the patients with a pain reduction.",
            "%",
        ),
        "responders_50": (
            "Responders ≥50%",
            "Patients whose pain fell by at least 50% from baseline (IMMPACT: substantial).",
        ),
        "responders_50_pct": (
            "Responders ≥50%, share",
            "Responders ≥50% in % of the patients with a pain reduction.",
            "%",
        ),
        "fatigue_mean": ("Fatigue, mean", "Mean of the patients' mean fatigue."),
        "sleep_quality_mean": ("Sleep quality, mean", "Mean of the patients' mean sleep quality."),
        "tolerability_mean": (
            "Tolerability, mean",
            "Mean of the patients' mean tolerability (0-100).",
        ),
        "vivid_dreams_incidence_pct": (
            "Vivid dreams, incidence",
            "Patients with at least one vivid-dream day, in % of the contributing patients.",
            "%",
        ),
        "headache_incidence_pct": (
            "Headache, incidence",
            "Patients with at least one headache day, in % of the contributing patients.",
            "%",
        ),
    },
)

LDN_VS_PLACEBO_FIGURES = figures_of(
    LdnVsPlacebo,
    {
        "patients": ("Patients", "Patients with entries in both an LDN and a placebo phase."),
        "pain_mean_ldn": (
            "Pain on LDN, mean",
            "Mean over those patients of their mean pain on LDN.",
        ),
        "pain_mean_placebo": (
            "Pain on placebo, mean",
            "Mean over those patients of their mean pain on placebo.",
        ),
        "relative_reduction_pct": (
            "Less pain on LDN",
            "How much lower mean pain was on LDN than on placebo, in % of the placebo mean.",
            "%",
        ),
    },
)
