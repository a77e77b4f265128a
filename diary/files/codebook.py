"""The codebook: one row per column of the entries, visits and summaries CSV files,
saying what the column is, its type, the values it can hold, its unit and when it has a value.

The rows are built from what defines the columns: the diary form's questions and
anchors, the model's ranges and choices, the figures' labels and definitions, and the
clinic measures' ranges and units (diary.visits.measures). A test fails when an export
gains a column the codebook does not describe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, dataclass
from typing import get_type_hints

from diary.entries import items
from diary.entries.models import DIARY_ITEMS, TREATMENT_ONLY_ITEMS, EntrySource
from diary.figures.definitions import (
    COHORT_FIGURES,
    ESR_RESPONSE_FIGURES,
    LDN_VS_PLACEBO_FIGURES,
    PATIENT_FIGURES,
)
from diary.figures.patient_figures import LOW_COMPLIANCE_PCT, PhaseSummary
from diary.figures.summaries import CohortSummary, EsrResponse, LdnVsPlacebo
from diary.files.exports import ENTRY_COLUMNS, SUMMARY_COLUMNS
from diary.files.query_exports import QUERY_COLUMNS
from diary.files.signature_exports import SIGNATURE_COLUMNS
from diary.files.visit_exports import VISIT_COLUMNS
from diary.queries.models import QueryStatus, QueryTarget
from diary.signoff.models import SignatureMeaning
from diary.trial.models import Blinding, EnrollmentStatus
from diary.trial.phases import PhaseKind
from diary.visits.measures import MEASURES
from diary.visits.models import VisitSource

COLUMNS = ["file", "name", "label", "type", "values", "unit", "when", "definition"]

ENTRIES = "entries"
VISITS = "visits"
SUMMARIES = "summaries"
SIGNATURES = "signatures"
QUERIES = "queries"
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


def _locked_at(file: str, when: str = "") -> Column:
    """The enrollment's lock for analysis (diary.trial.locks.locked_at)."""
    return Column(
        file,
        "locked_at",
        "Locked for analysis",
        "date-time",
        "ISO 8601 with the UTC offset, in the enrollment's time zone",
        "",
        (when + " " if when else "")
        + "Blank while the enrollment is unlocked; its own lock, else its protocol's "
        "(the database lock).",
    )


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
        "answered_at": Column(
            ENTRIES,
            "answered_at",
            "When the patient gave these answers (her phone's moment when saved offline)",
            "date-time",
            "ISO 8601 with the UTC offset, in the enrollment's time zone",
            "",
            "Answers of the patient; blank for staff entries and imports.",
        ),
        "received_at": Column(
            ENTRIES,
            "received_at",
            "When the server received these answers",
            "date-time",
            "ISO 8601 with the UTC offset, in the enrollment's time zone",
            "",
            "Answers of the patient; blank for staff entries and imports.",
        ),
        "synced_late": Column(
            ENTRIES,
            "synced_late",
            "Answered offline inside the entry window, received after it had closed",
            "yes/no",
            YES_NO,
            "",
            "Always.",
        ),
        "locked_at": _locked_at(ENTRIES),
        **asked,
    }
    return [described[name] for name in ENTRY_COLUMNS]


def visit_columns() -> list[Column]:
    """export_visits: a row per clinic visit (diary.files.visit_exports)."""
    moment = "ISO 8601 with the UTC offset, in the enrollment's time zone"
    phase_labels = ", ".join(label for _, label in PhaseKind.choices)
    described = {
        "study_id": Column(
            VISITS, "study_id", "Study ID (pseudonym of the patient)", "text", "", "", "Always."
        ),
        "visit_date": Column(
            VISITS,
            "visit_date",
            "Date of the clinic visit",
            "date",
            "YYYY-MM-DD; from 28 days before the start to the schedule's last day",
            "",
            "Always.",
        ),
        "study_day": Column(
            VISITS,
            "study_day",
            "Day of the schedule the visit fell on",
            "integer",
            "-27 to the schedule's length",
            "days",
            "Always.",
            "Day 1 is the start date; the day before it is 0, then -1, ... (a visit before "
            "the start).",
        ),
        "phase_order": Column(
            VISITS,
            "phase_order",
            "Position of the phase the visit counts for, as the file's reader may see it",
            "integer",
            "1, 2, ...",
            "",
            "Always; a visit before the start counts for the first phase.",
        ),
        "phase": Column(
            VISITS,
            "phase",
            "Phase the visit counts for, as the file's reader may see it",
            "text",
            f"{phase_labels}; while blinded: Treatment or Treatment period N",
            "",
            "Always; a visit before the start counts for the first phase.",
        ),
        **{
            m.name: Column(
                VISITS,
                m.name,
                m.label,
                "integer" if m.decimals == 0 else "decimal",
                f"{m.shown(m.low)} to {m.shown(m.high)}"
                + ("" if m.decimals == 0 else ", one decimal"),
                m.unit,
                "Measured at a clinic visit; blank = not done.",
                f"{m.description}"
                + (f" (LOINC {m.loinc})" if m.loinc else "")
                + f". Higher = {m.higher_is}.",
            )
            for m in MEASURES
        },
        "notes": Column(
            VISITS,
            "notes",
            "Notes on the visit",
            "text",
            "at most 1000 characters",
            "",
            "Optional.",
        ),
        "source": Column(
            VISITS,
            "source",
            "How the visit was entered",
            "code",
            ", ".join(f"{value} ({label})" for value, label in VisitSource.choices),
            "",
            "Always.",
        ),
        "voided": Column(
            VISITS,
            "voided",
            "Voided with a reason (left out of every figure)",
            "yes/no",
            YES_NO,
            "",
            "Always.",
        ),
        "created_at": Column(
            VISITS, "created_at", "First saved", "date-time", moment, "", "Always."
        ),
        "updated_at": Column(
            VISITS, "updated_at", "Last changed", "date-time", moment, "", "Always."
        ),
        "locked_at": _locked_at(VISITS),
    }
    return [described[name] for name in VISIT_COLUMNS]


def signature_columns() -> list[Column]:
    """export_signatures: a row per phase review signature (diary.files.signature_exports)."""
    utc = "YYYY-MM-DDTHH:MM:SS+00:00 (UTC)"
    described = {
        "study_id": Column(SIGNATURES, "study_id", "Study ID", "text", "", "", "Always."),
        "phase_order": Column(
            SIGNATURES,
            "phase_order",
            "Position of the signed phase, as the file's reader may see it",
            "integer",
            "1, 2, ...",
            "",
            "Always.",
        ),
        "phase": Column(
            SIGNATURES,
            "phase",
            "Signed phase, as the file's reader may see it",
            "text",
            "",
            "",
            "Always.",
        ),
        "signer": Column(SIGNATURES, "signer", "Signer's login", "text", "", "", "Always."),
        "printed_name": Column(
            SIGNATURES, "printed_name", "Signer's printed name", "text", "", "", "Always."
        ),
        "meaning": Column(
            SIGNATURES,
            "meaning",
            "Meaning of the signature",
            "code",
            ", ".join(f"{v} ({label})" for v, label in SignatureMeaning.choices),
            "",
            "Always.",
        ),
        "signed_at": Column(SIGNATURES, "signed_at", "Signed", "date-time", utc, "", "Always."),
        "content_sha256": Column(
            SIGNATURES,
            "content_sha256",
            "SHA-256 of what was signed",
            "text",
            "64 hex digits",
            "",
            "Always.",
            "Hash of the canonical JSON (sorted keys, no spaces, UTF-8, ISO dates) of the "
            "phase review as the signer saw it.",
        ),
        "status": Column(
            SIGNATURES,
            "status",
            "Whether the signature still covers the data",
            "code",
            "valid, invalidated",
            "",
            "Always.",
            "invalidated: an entry or visit of the phase changed after signing.",
        ),
        "invalidated_at": Column(
            SIGNATURES,
            "invalidated_at",
            "Invalidated",
            "date-time",
            utc,
            "",
            "Only when invalidated; blank otherwise.",
        ),
        "invalidated_by_change": Column(
            SIGNATURES,
            "invalidated_by_change",
            "The change that invalidated it (record, who, why)",
            "text",
            "",
            "",
            "Only when invalidated; blank otherwise.",
        ),
    }
    return [described[name] for name in SIGNATURE_COLUMNS]


def query_columns() -> list[Column]:
    """export_queries: a row per data query (diary.files.query_exports)."""
    utc = "YYYY-MM-DDTHH:MM:SS+00:00 (UTC)"
    text = "at most 1000 characters"

    def column(name, label, kind="text", values="", when="Always.", definition=""):
        return Column(QUERIES, name, label, kind, values, "", when, definition)

    described = {
        "id": column("id", "Query number (#N in the audit trail)", "integer", "1, 2, ..."),
        "study_id": column("study_id", "Study ID"),
        "date": column(
            "date", "The diary day asked about, or the visit's date", "date", "YYYY-MM-DD"
        ),
        "target": column(
            "target",
            "What the query is about",
            "code",
            ", ".join(f"{v} ({label})" for v, label in QueryTarget.choices),
        ),
        "raised_by": column("raised_by", "Login of who raised it"),
        "raised_at": column("raised_at", "Raised", "date-time", utc),
        "text": column("text", "The question", "text", text),
        "status": column(
            "status",
            "Where it stands",
            "code",
            ", ".join(f"{v} ({label})" for v, label in QueryStatus.choices),
            definition="open -> answered -> closed; a closed query may be reopened (open).",
        ),
        "answered_by": column(
            "answered_by", "Login of who answered (the patient for a day)", when=ANSWERED
        ),
        "answered_at": column("answered_at", "Answered", "date-time", utc, ANSWERED),
        "answer": column("answer", "The answer", "text", text, ANSWERED),
        "closed_by": column("closed_by", "Login of who closed it", when=CLOSED),
        "closed_at": column("closed_at", "Closed", "date-time", utc, CLOSED),
        "close_note": column("close_note", "How it was resolved", "text", text, CLOSED),
    }
    return [described[name] for name in QUERY_COLUMNS]


ANSWERED = "Once answered; blank before."
CLOSED = "Once closed; blank otherwise."


SECTION_OF = {
    "patient": PhaseSummary,
    "cohort": CohortSummary,
    "ldn_vs_placebo": LdnVsPlacebo,
    "esr_response": EsrResponse,
}
FIGURES_OF = {
    "patient": PATIENT_FIGURES,
    "cohort": COHORT_FIGURES,
    "ldn_vs_placebo": LDN_VS_PLACEBO_FIGURES,
    "esr_response": ESR_RESPONSE_FIGURES,
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


CORRELATIONS = {"spearman_rho", "pearson_r"}


def _measure_figure(name: str):
    """The clinic measure and what of it a figure is ("value", "change", "patients"),
    or None for a diary figure: esr, esr_change, esr_mean, esr_change_mean,
    esr_patients, pressure_threshold_change_ldn, ..."""
    for m in MEASURES:
        if not name.startswith(m.name):
            continue
        rest = name.removeprefix(m.name)
        if rest in ("", "_mean"):
            return m, "value"
        if rest in ("_change", "_change_mean", "_change_ldn", "_change_placebo"):
            return m, "change"
        if rest == "_patients":
            return m, "patients"
    return None


def _measure_unit_and_values(m, what: str) -> tuple[str, str]:
    if what == "patients":
        return "count", "0, 1, 2, ..."
    if what == "value":
        return m.unit, f"{m.shown(m.low)} to {m.shown(m.high)}"
    span = m.shown(m.high - m.low)
    return m.unit, f"-{span} to {span}; positive = higher than at baseline ({m.higher_is})"


def _unit_and_values(figure) -> tuple[str, str]:
    measure = _measure_figure(figure.name)
    if measure:
        return _measure_unit_and_values(*measure)
    if figure.name in CORRELATIONS:
        return "", "-1 to 1"
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
        if all(section in ("ldn_vs_placebo", "esr_response") for section, _ in sections):
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
            "protocol), ldn_vs_placebo (one protocol), esr_response (baseline ESR against "
            "pain reduction on LDN, one protocol)",
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
        "locked_at": _locked_at(SUMMARIES, patient_row),
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
    return (
        entry_columns()
        + visit_columns()
        + summary_columns()
        + signature_columns()
        + query_columns()
    )


def codebook_rows() -> Iterator[list]:
    """The header, then one row per column of the CSV exports (for exports.csv_lines)."""
    yield COLUMNS
    for column in codebook():
        yield list(astuple(column))
