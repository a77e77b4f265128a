"""The codebook: one row per column of the entries and summaries CSV files, saying what
the column is, its type, the values it can hold, its unit and when it has a value.

The rows are built from what defines the columns: the diary form's questions and
anchors, the model's ranges and choices, the figures' labels and definitions. A test
fails when an export gains a column the codebook does not describe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, dataclass
from typing import get_type_hints

from diary.entries import items
from diary.entries.models import DIARY_ITEMS, TREATMENT_ONLY_ITEMS, EntrySource
from diary.figures.definitions import COHORT_FIGURES, LDN_VS_PLACEBO_FIGURES, PATIENT_FIGURES
from diary.figures.patient_figures import LOW_COMPLIANCE_PCT, PhaseSummary
from diary.figures.summaries import CohortSummary, LdnVsPlacebo
from diary.files.exports import ENTRY_COLUMNS, SUMMARY_COLUMNS
from diary.trial.models import Blinding, EnrollmentStatus
from diary.trial.phases import PhaseKind

COLUMNS = ["file", "name", "label", "type", "values", "unit", "when", "definition"]

ENTRIES = "entries"
SUMMARIES = "summaries"
YES_NO = "yes, no"


@dataclass(frozen=True)
class Column:
    file: str
    name: str
    label: str
    type: str
    values: str = ""
    unit: str = ""
    when: str = ""
    definition: str = ""


def _item(name: str) -> Column:
    """A diary item's column, as the diary asks it (diary.entries.items)."""
    label = items.question(name)
    when = (
        "Asked only in LDN and placebo phases (treatment phases); blank elsewhere."
        if name in TREATMENT_ONLY_ITEMS
        else "Asked every diary day."
    )
    if items.kind(name) == items.TEXT:
        limit = items.max_length(name)
        values = f"at most {limit} characters; a line break counts as one"
        return Column(ENTRIES, name, label, "text", values, "", "Optional, every diary day.")
    if items.kind(name) == items.SCALE:
        low, high = items.score_range(name)
        definition = "; ".join(items.anchors(name))
        return Column(
            ENTRIES, name, label, "integer", f"{low} to {high}", "points", when, definition
        )
    return Column(ENTRIES, name, label, "yes/no", YES_NO, "", when)


def entry_columns() -> list[Column]:
    asked = {name: _item(name) for name in DIARY_ITEMS}
    phase_labels = ", ".join(label for _, label in PhaseKind.choices)
    described = {
        "study_id": Column(
            ENTRIES, "study_id", "Study ID (pseudonym of the patient)", "text", "", "", "Always."
        ),
        "date": Column(
            ENTRIES,
            "date",
            "Diary day, in the patient's own time zone",
            "date",
            "YYYY-MM-DD",
            "",
            "Always.",
        ),
        "phase_order": Column(
            ENTRIES,
            "phase_order",
            "Position of the phase in the schedule as the file's reader may see it",
            "integer",
            "1, 2, ...",
            "",
            "Blank for a day outside the schedule.",
        ),
        "phase": Column(
            ENTRIES,
            "phase",
            "Phase of the day as the file's reader may see it",
            "text",
            f"{phase_labels}; while blinded: Treatment or Treatment period N",
            "",
            "Blank for a day outside the schedule.",
        ),
        "source": Column(
            ENTRIES,
            "source",
            "Who entered the day",
            "code",
            ", ".join(f"{value} ({label})" for value, label in EntrySource.choices),
            "",
            "Always.",
        ),
        "late": Column(
            ENTRIES,
            "late",
            "First saved by the patient after the day had ended",
            "yes/no",
            YES_NO,
            "",
            "Always.",
        ),
        "voided": Column(
            ENTRIES,
            "voided",
            "Voided by a coordinator (left out of every figure)",
            "yes/no",
            YES_NO,
            "",
            "Always.",
        ),
        "timezone": Column(
            ENTRIES,
            "timezone",
            "The enrollment's time zone",
            "text",
            "IANA name, e.g. America/Los_Angeles",
            "",
            "Always.",
        ),
        "created_at": Column(
            ENTRIES,
            "created_at",
            "First saved",
            "date-time",
            "ISO 8601 with the UTC offset, in the enrollment's time zone",
            "",
            "Always.",
        ),
        "updated_at": Column(
            ENTRIES,
            "updated_at",
            "Last changed",
            "date-time",
            "ISO 8601 with the UTC offset, in the enrollment's time zone",
            "",
            "Always.",
        ),
        **asked,
    }
    return [described[name] for name in ENTRY_COLUMNS]


SECTION_OF = {"patient": PhaseSummary, "cohort": CohortSummary, "ldn_vs_placebo": LdnVsPlacebo}
FIGURES_OF = {
    "patient": PATIENT_FIGURES,
    "cohort": COHORT_FIGURES,
    "ldn_vs_placebo": LDN_VS_PLACEBO_FIGURES,
}


COUNTS = {"entries", "patients", "late_entries", "responders_30", "responders_50"}
# Percentages that compare with a baseline or with placebo: negative = more pain.
CHANGES = {
    "pain_reduction_pct",
    "pain_endpoint_reduction_pct",
    "pain_reduction_pct_mean",
    "pain_endpoint_reduction_pct_mean",
    "relative_reduction_pct",
}


def _unit_and_values(figure) -> tuple[str, str]:
    if figure.name in CHANGES:
        return "%", "any number; positive = less pain"
    if figure.suffix:
        return figure.suffix, "0 to 100"
    if figure.name.endswith("_days"):
        return "days", "0, 1, 2, ..."
    if figure.name in COUNTS:
        return "count", "0, 1, 2, ..."
    if "tolerability" in figure.name:
        return "points", "0 to 100"
    if figure.name.endswith("_sd"):
        return "points", "0 or more"
    return "points", "0 to 10"


def figure_columns() -> dict[str, Column]:
    """A column per figure name; a name that several sections share (e.g. pain_mean for a
    patient's phase and for the cohort) gets each section's definition."""
    uses: dict[str, list[tuple[str, object]]] = {}
    for section, figures in FIGURES_OF.items():
        for figure in figures:
            uses.setdefault(figure.name, []).append((section, figure))
    columns = {}
    for name, sections in uses.items():
        first = sections[0][1]
        hint = get_type_hints(SECTION_OF[sections[0][0]])[name]
        kind = "integer" if hint is int or hint == int | None else "decimal"
        if len(sections) == 1:
            definition = first.definition
        else:
            definition = " ".join(f"{section}: {figure.definition}" for section, figure in sections)
        when = "Rows with section " + " or ".join(f'"{section}"' for section, _ in sections)
        when += "; blank where it cannot be computed (see the definition)."
        if all(section == "ldn_vs_placebo" for section, _ in sections):
            when += " Only in files that show the arms."
        unit, values = _unit_and_values(first)
        columns[name] = Column(SUMMARIES, name, first.label, kind, values, unit, when, definition)
    return columns


def summary_columns() -> list[Column]:
    patient_row = 'Rows with section "patient".'
    phase_rows = 'Rows with section "patient" or "cohort".'
    described = {
        "section": Column(
            SUMMARIES,
            "section",
            "What the row is",
            "code",
            "patient (one patient and phase), cohort (one phase kind or label of a "
            "protocol), ldn_vs_placebo (one protocol)",
            "",
            "Always.",
        ),
        "protocol": Column(SUMMARIES, "protocol", "Protocol (slug)", "text", "", "", "Always."),
        "blinding": Column(
            SUMMARIES,
            "blinding",
            "The protocol's blinding",
            "code",
            ", ".join(value for value, _ in Blinding.choices),
            "",
            "Always.",
        ),
        "unblinded": Column(
            SUMMARIES,
            "unblinded",
            "Whether the file shows this protocol's arms and treatment names",
            "yes/no",
            YES_NO,
            "",
            "Always.",
        ),
        "study_id": Column(SUMMARIES, "study_id", "Study ID", "text", "", "", patient_row),
        "arm": Column(
            SUMMARIES,
            "arm",
            "Arm code",
            "text",
            "",
            "",
            patient_row + " Blank while the file's reader is blinded.",
        ),
        "status": Column(
            SUMMARIES,
            "status",
            "Enrollment status",
            "code",
            ", ".join(value for value, _ in EnrollmentStatus.choices),
            "",
            patient_row,
        ),
        "physician": Column(
            SUMMARIES, "physician", "Prescribing physician (user name)", "text", "", "", patient_row
        ),
        "order": Column(
            SUMMARIES,
            "order",
            "Position of the phase in the schedule as the reader may see it",
            "integer",
            "1, 2, ...",
            "",
            patient_row,
        ),
        "kind": Column(
            SUMMARIES,
            "kind",
            "Phase kind",
            "code",
            ", ".join(value for value, _ in PhaseKind.choices),
            "",
            phase_rows + " Blank for a treatment phase while the reader is blinded.",
        ),
        "label": Column(
            SUMMARIES, "label", "Phase name as the reader may see it", "text", "", "", phase_rows
        ),
        "start": Column(
            SUMMARIES, "start", "First day of the phase", "date", "YYYY-MM-DD", "", patient_row
        ),
        "end": Column(
            SUMMARIES, "end", "Last day of the phase", "date", "YYYY-MM-DD", "", patient_row
        ),
        "low_compliance": Column(
            SUMMARIES,
            "low_compliance",
            f"Compliance below {LOW_COMPLIANCE_PCT}% (flagged on physician pages)",
            "yes/no",
            YES_NO,
            "",
            patient_row,
        ),
    }
    described |= figure_columns()
    return [described[name] for name in SUMMARY_COLUMNS]


def codebook() -> list[Column]:
    return entry_columns() + summary_columns()


def codebook_rows() -> Iterator[list]:
    """The header, then one row per column of the CSV exports (for exports.csv_lines)."""
    yield COLUMNS
    for column in codebook():
        yield list(astuple(column))
