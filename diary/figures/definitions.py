"""What each summary figure is called and means, for pages, footnotes and CSV headers.

The definitions follow docs/domain.md in readers' words; a page shows them beside the
figures so a reader knows what "compliance" or "responder" means. The figures are the
fields of the summaries' dataclasses, in their order: a field without a definition here
fails at import, and a definition without a field cannot exist.
"""

from dataclasses import dataclass, fields

from diary.figures.patient_figures import LOW_COMPLIANCE_PCT, PhaseSummary
from diary.figures.summaries import CohortSummary, EsrResponse, LdnVsPlacebo
from diary.visits.measures import MEASURES


@dataclass(frozen=True)
class Figure:
    name: str  # the field of PhaseSummary / CohortSummary / LdnVsPlacebo
    label: str
    definition: str
    suffix: str = ""  # "%" for percentages


# Fields that say which phase a row is, or flag a figure: not figures themselves.
IDENTITY = {"order", "kind", "label", "start", "end", "low_compliance"}


def figures_of(summary_class, definitions: dict, leave_out=()) -> list[Figure]:
    """The figures of `summary_class` in its field order, from `definitions` ({field:
    (label, definition[, suffix])}); every figure field must have one (but the fields
    `leave_out`, which are not figures)."""
    names = [
        f.name for f in fields(summary_class) if f.name not in IDENTITY and f.name not in leave_out
    ]
    missing = set(names) ^ set(definitions)
    if missing:
        raise ValueError(
            f"{summary_class.__name__}: figures without a field or definition: {missing}"
        )
    return [Figure(name, *definitions[name]) for name in names]


def _unit(measure) -> str:
    return f" ({measure.unit})"


def _patient_measures() -> dict:
    definitions = {}
    for m in MEASURES:
        definitions[m.name] = (
            f"{m.label}{_unit(m)}",
            f"{m.description}: the value at the phase's last clinic visit that measured it, up"
            " to the as-of date (voided visits left out; a visit before the start counts for "
            "the first phase).",
        )
        definitions[f"{m.name}_change"] = (
            f"{m.label} change{_unit(m)}",
            f"The phase's {m.label.lower() if m.name != 'esr' else m.label} minus the "
            f"patient's baseline value; not for the baseline phase. Higher = "
            f"{m.higher_is}.",
        )
    return definitions


def _cohort_measures() -> dict:
    definitions = {}
    for m in MEASURES:
        label = m.label if m.name == "esr" else m.label.lower()
        definitions[f"{m.name}_mean"] = (
            f"{m.label}, mean{_unit(m)}",
            f"Mean of the patients' {label} in phases of this kind (their last visit's value).",
        )
        definitions[f"{m.name}_change_mean"] = (
            f"{m.label} change, mean{_unit(m)}",
            f"Mean of the patients' change of {label} from their own baseline.",
        )
        definitions[f"{m.name}_patients"] = (
            f"{m.label}, patients",
            f"Patients with a value of {label} in a phase of this kind.",
        )
    return definitions


def _comparison_measures() -> dict:
    definitions = {}
    for m in MEASURES:
        if m.name == "esr":
            continue
        label = m.label.lower()
        definitions[f"{m.name}_change_ldn"] = (
            f"{m.label} change on LDN{_unit(m)}",
            f"Mean over the patients with a change on both of their change of {label} from "
            "baseline on LDN.",
        )
        definitions[f"{m.name}_change_placebo"] = (
            f"{m.label} change on placebo{_unit(m)}",
            f"Mean over the patients with a change on both of their change of {label} from "
            "baseline on placebo.",
        )
        definitions[f"{m.name}_patients"] = (
            f"{m.label}, patients",
            f"Patients with a change of {label} from baseline on both LDN and placebo.",
        )
    return definitions


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
        **_patient_measures(),
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
        **_cohort_measures(),
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
        **_comparison_measures(),
    },
)

ESR_RESPONSE_FIGURES = figures_of(
    EsrResponse,
    {
        "patients": (
            "Patients",
            "Patients with a baseline ESR and a pain reduction on LDN (a patient with more "
            "than one LDN phase counts once, with the mean of her reductions).",
        ),
        "spearman_rho": (
            "Spearman's rho",
            "Rank correlation of baseline ESR with pain reduction on LDN (tied values share "
            "their average rank); needs at least 3 patients and values that differ.",
        ),
        "pearson_r": (
            "Pearson's r",
            "Linear correlation of baseline ESR (mm/h) with pain reduction on LDN (%); needs "
            "at least 3 patients and values that differ.",
        ),
    },
    leave_out={"points"},
)

# The clinic measures' figures, for pages that show them in a table of their own (the
# lists above hold every figure, in the dataclasses' order).
_MEASURE_NAMES = {
    *_patient_measures(),
    *_cohort_measures(),
    *_comparison_measures(),
}


def _split(figures: list[Figure]) -> tuple[list[Figure], list[Figure]]:
    return (
        [f for f in figures if f.name not in _MEASURE_NAMES],
        [f for f in figures if f.name in _MEASURE_NAMES],
    )


PATIENT_DIARY_FIGURES, PATIENT_MEASURE_FIGURES = _split(PATIENT_FIGURES)
COHORT_DIARY_FIGURES, COHORT_MEASURE_FIGURES = _split(COHORT_FIGURES)
LDN_VS_PLACEBO_DIARY_FIGURES, LDN_VS_PLACEBO_MEASURE_FIGURES = _split(LDN_VS_PLACEBO_FIGURES)
