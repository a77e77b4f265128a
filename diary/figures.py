"""What each summary figure is called and means, for pages, footnotes and CSV headers.

The definitions restate shared/DOMAIN.md in readers' words; a page shows them beside
the figures so a reader knows what "compliance" or "responder" means.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str  # the field of PhaseSummary / CohortSummary / LdnVsPlacebo
    label: str
    definition: str
    suffix: str = ""  # "%" for percentages


PATIENT_FIGURES = [
    Figure(
        "elapsed_days",
        "Elapsed days",
        "Days of the phase up to the as-of date, or up to "
        "the withdrawal date; 0 if the phase has not begun.",
    ),
    Figure(
        "entries",
        "Entries",
        "Diary days recorded in the phase; voided entries are left out of every figure.",
    ),
    Figure(
        "compliance_pct",
        "Compliance",
        "Entries as a share of elapsed days; below 80% is flagged.",
        "%",
    ),
    Figure(
        "pain_mean",
        "Pain, mean",
        "Mean daily pain (0 = no pain, 10 = worst) over the phase's entries.",
    ),
    Figure(
        "pain_sd", "Pain, SD", "Sample standard deviation of daily pain; needs at least 2 entries."
    ),
    Figure(
        "pain_reduction_pct",
        "Pain reduction",
        "How much lower the phase's mean pain "
        "is than the patient's baseline mean, in % of the baseline. Positive = less "
        "pain.",
        "%",
    ),
    Figure(
        "pain_endpoint",
        "Pain end point",
        "The trials' end point: mean pain of the phase's last 3 days, once the phase has ended.",
    ),
    Figure(
        "pain_endpoint_reduction_pct",
        "End-point reduction",
        "Reduction of the end point against the baseline mean, in % of the baseline.",
        "%",
    ),
    Figure("fatigue_mean", "Fatigue, mean", "Mean daily fatigue (0-10; lower is better)."),
    Figure(
        "sleep_quality_mean", "Sleep quality, mean", "Mean sleep quality (0-10; higher is better)."
    ),
    Figure(
        "tolerability_mean",
        "Tolerability, mean",
        "Mean tolerability of the study "
        "capsules (0-100) over the entries that answered it (treatment phases).",
    ),
    Figure(
        "vivid_dreams_days", "Vivid-dream days", "Entries answering yes to vivid or unusual dreams."
    ),
    Figure("vivid_dreams_pct", "Vivid dreams", "Vivid-dream days in % of entries.", "%"),
    Figure("headache_days", "Headache days", "Entries answering yes to headache."),
    Figure("headache_pct", "Headache", "Headache days in % of entries.", "%"),
    Figure(
        "late_entries",
        "Late entries",
        "Entries first saved by the patient after their day had ended.",
    ),
]

COHORT_FIGURES = [
    Figure("patients", "Patients", "Patients with at least one entry in a phase of this kind."),
    Figure(
        "compliance_pct",
        "Compliance",
        "All entries in % of all elapsed days, over every enrollment.",
        "%",
    ),
    Figure(
        "pain_mean", "Pain, mean", "Mean of the patients' mean pain: each patient weighs the same."
    ),
    Figure(
        "pain_sd",
        "Pain, SD",
        "Sample standard deviation of the patients' mean pain; needs at least 2 patients.",
    ),
    Figure(
        "pain_reduction_pct_mean",
        "Pain reduction, mean",
        "Mean of the patients' pain reductions against their own baseline.",
        "%",
    ),
    Figure(
        "pain_endpoint_reduction_pct_mean",
        "End-point reduction, mean",
        "Mean of the patients' end-point (last 3 days) reductions against their own baseline.",
        "%",
    ),
    Figure(
        "responders_30",
        "Responders ≥30%",
        "Patients whose pain fell by at least 30% from baseline (IMMPACT: moderately important).",
    ),
    Figure(
        "responders_30_pct",
        "Responders ≥30%, share",
        "Responders ≥30% in % of the patients with a pain reduction.",
        "%",
    ),
    Figure(
        "responders_50",
        "Responders ≥50%",
        "Patients whose pain fell by at least 50% from baseline (IMMPACT: substantial).",
    ),
    Figure(
        "responders_50_pct",
        "Responders ≥50%, share",
        "Responders ≥50% in % of the patients with a pain reduction.",
        "%",
    ),
    Figure("fatigue_mean", "Fatigue, mean", "Mean of the patients' mean fatigue."),
    Figure(
        "sleep_quality_mean", "Sleep quality, mean", "Mean of the patients' mean sleep quality."
    ),
    Figure(
        "tolerability_mean",
        "Tolerability, mean",
        "Mean of the patients' mean tolerability (0-100).",
    ),
    Figure(
        "vivid_dreams_incidence_pct",
        "Vivid dreams, incidence",
        "Patients with at least one vivid-dream day, in % of the contributing patients.",
        "%",
    ),
    Figure(
        "headache_incidence_pct",
        "Headache, incidence",
        "Patients with at least one headache day, in % of the contributing patients.",
        "%",
    ),
]

LDN_VS_PLACEBO_FIGURES = [
    Figure("patients", "Patients", "Patients with entries in both an LDN and a placebo phase."),
    Figure(
        "pain_mean_ldn", "Pain on LDN, mean", "Mean over those patients of their mean pain on LDN."
    ),
    Figure(
        "pain_mean_placebo",
        "Pain on placebo, mean",
        "Mean over those patients of their mean pain on placebo.",
    ),
    Figure(
        "relative_reduction_pct",
        "Less pain on LDN",
        "How much lower mean pain was on LDN than on placebo, in % of the placebo mean.",
        "%",
    ),
]
