"""The export formats of docs/domain.md: entries as long CSV, summaries as JSON or CSV.

Entries stream: rows are generated one at a time from a database cursor, so memory
stays flat for millions of rows, on the command line and in the browser download alike.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

import orjson

from diary import access
from diary.audit.models import AuditAction, AuditEvent, shell_actor
from diary.entries.models import DIARY_ITEMS, DiaryEntry
from diary.figures import summaries
from diary.figures.definitions import (
    COHORT_FIGURES,
    ESR_RESPONSE_FIGURES,
    LDN_VS_PLACEBO_FIGURES,
    PATIENT_FIGURES,
)
from diary.figures.summaries import ProtocolSummary
from diary.files import fhir, query_exports, signature_exports, visit_exports
from diary.files.moments import local_moment
from diary.trial import blinding, locks

ENTRY_COLUMNS = [
    "study_id",
    "date",
    "phase_order",
    "phase",
    *DIARY_ITEMS,
    "source",
    "late",
    "voided",
    "timezone",
    "created_at",
    "updated_at",
    "answered_at",
    "received_at",
    "synced_late",
    "locked_at",
]
ITEM_FIELDS = ENTRY_COLUMNS[4:12]
# JSON keeps 4 decimals: enough for analysis, and identical on SQLite and PostgreSQL.
JSON_DECIMALS = 4


def yes_no(value) -> str:
    return "" if value is None else ("yes" if value else "no")


def entry_rows(enrollments, reader) -> Iterator[list]:
    """The header, then one row per entry (voided ones too, flagged), by study ID and day,
    with the phase as `reader` (a diary.trial.blinding file reader) may see it.

    Three queries whatever the size: enrollments, protocols with their phases, and the
    entries read through a cursor in chunks.
    """
    yield ENTRY_COLUMNS
    by_id = {e.pk: e for e in enrollments.load_with_schedules()}
    if not by_id:
        return
    schedule_of = blinding.file_schedules(reader)
    entries = (
        DiaryEntry.objects.filter(enrollment_id__in=enrollments.values("pk"))
        .order_by("enrollment__study_id", "date")
        .values_list(
            "enrollment_id",
            "date",
            *ITEM_FIELDS,
            "source",
            "late",
            "voided",
            "created_at",
            "updated_at",
            "answered_at",
            "received_at",
            "synced_late",
        )
        .iterator(chunk_size=5000)
    )
    for (
        enrollment_id,
        day,
        *items,
        source,
        late,
        voided,
        created_at,
        updated_at,
        answered_at,
        received_at,
        synced_late,
    ) in entries:
        enrollment = by_id[enrollment_id]
        span = schedule_of(enrollment).span_on(day)
        zone = enrollment.zoneinfo
        values = dict(zip(ITEM_FIELDS, items, strict=True))
        yield [
            enrollment.study_id,
            day.isoformat(),
            span.order if span else "",
            span.label if span else "",
            values["pain"],
            values["fatigue"],
            values["sleep_quality"],
            yes_no(values["vivid_dreams"]),
            yes_no(values["headache"]),
            yes_no(values["dose_taken"]),
            "" if values["tolerability"] is None else values["tolerability"],
            values["notes"],
            source,
            yes_no(late),
            yes_no(voided),
            enrollment.timezone,
            local_moment(created_at, zone),
            local_moment(updated_at, zone),
            local_moment(answered_at, zone),
            local_moment(received_at, zone),
            yes_no(synced_late),
            local_moment(locks.locked_at(enrollment), zone),
        ]


class _Echo:
    def write(self, value):
        return value


# OWASP "CSV injection": a spreadsheet runs a cell that begins with one of these as a
# formula (a tab or carriage return can hide the sign behind it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def safe_cell(value):
    """A text cell a spreadsheet would run as a formula gets a leading ' (numbers, and
    text that is a plain number such as -12.5, stay as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """CSV text, one line at a time (for StreamingHttpResponse and stdout alike). Every
    CSV the app writes goes through here, so every one is safe to open in a
    spreadsheet."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])


# Summaries ------------------------------------------------------------------------


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _figures(obj, decimals: int) -> dict:
    """A summary dataclass's figures with floats rounded, without copying it (it holds
    numbers, dates and text only; orjson writes dates as YYYY-MM-DD)."""
    names = _field_names(type(obj))
    return {
        name: round(value, decimals) if type(value) is float else value
        for name, value in zip(names, operator.attrgetter(*names)(obj), strict=True)
    }


def _values(obj) -> dict:
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


def _esr_response(result: ProtocolSummary, decimals: int | None = None) -> dict | None:
    """The ESR-and-response figures of a protocol (not its points: files hold no
    patient's pair), or None where the reader may not see kinds."""
    response = result.esr_response
    if response is None:
        return None
    values = {f.name: getattr(response, f.name) for f in ESR_RESPONSE_FIGURES}
    if decimals is None:
        return values
    return {
        name: round(value, decimals) if type(value) is float else value
        for name, value in values.items()
    }


def summary_json(results: list[ProtocolSummary], as_of: dt.date) -> dict:
    """The JSON shape of docs/domain.md ("export_summaries --format json")."""
    protocols = []
    for result in results:
        protocols.append(
            {
                "slug": result.protocol.slug,
                "blinding": result.protocol.blinding,
                "unblinded": not result.blinded,
                "patients": [
                    {
                        "study_id": patient.study_id,
                        "arm": patient.arm,
                        "status": patient.enrollment.status,
                        "physician": patient.enrollment.physician_username,
                        "locked_at": local_moment(
                            locks.locked_at(patient.enrollment, result.protocol),
                            patient.enrollment.zoneinfo,
                        )
                        or None,
                        "phases": [_figures(p, JSON_DECIMALS) for p in patient.phases],
                    }
                    for patient in result.patients
                ],
                "cohort": [_figures(row, JSON_DECIMALS) for row in result.cohort],
                "ldn_vs_placebo": (
                    _figures(result.ldn_vs_placebo, JSON_DECIMALS)
                    if result.ldn_vs_placebo
                    else None
                ),
                "esr_response": _esr_response(result, JSON_DECIMALS),
            }
        )
    return {"as_of": as_of.isoformat(), "protocols": protocols}


def summary_json_text(results, as_of) -> str:
    """The summaries as indented JSON, written by orjson's C encoder."""
    return orjson.dumps(summary_json(results, as_of), option=orjson.OPT_INDENT_2).decode() + "\n"


def _unique(names):
    return list(dict.fromkeys(names))


_PHASE_AND_COHORT_NAMES = [f.name for f in (*PATIENT_FIGURES, *COHORT_FIGURES)]
SUMMARY_COLUMNS = _unique(
    [
        "section",
        "protocol",
        "blinding",
        "unblinded",
        "study_id",
        "arm",
        "status",
        "physician",
        "locked_at",
        "order",
        "kind",
        "label",
        "start",
        "end",
        *(f.name for f in PATIENT_FIGURES),
        "low_compliance",
        *(f.name for f in COHORT_FIGURES),
        *(f.name for f in LDN_VS_PLACEBO_FIGURES),
        # The esr_response section's patients share the column "patients".
        *(f.name for f in ESR_RESPONSE_FIGURES),
    ]
)


def _csv_value(value):
    """Pages and CSV show one decimal (docs/domain.md)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def summary_rows(results: list[ProtocolSummary]) -> Iterator[list]:
    """One CSV table: a row per patient and phase (section "patient"), per cohort phase
    ("cohort"), per protocol comparison ("ldn_vs_placebo") and per protocol ESR and
    response ("esr_response"); blank where a column does not apply to the section.
    When every protocol is blinded there is no comparison nor ESR and response, and
    their own columns are left out too."""
    columns = SUMMARY_COLUMNS
    if all(result.blinded for result in results):
        unblinded_only = {f.name for f in (*LDN_VS_PLACEBO_FIGURES, *ESR_RESPONSE_FIGURES)} - set(
            _PHASE_AND_COHORT_NAMES
        )
        columns = [column for column in SUMMARY_COLUMNS if column not in unblinded_only]
    yield columns
    for result in results:
        common = {
            "protocol": result.protocol.slug,
            "blinding": result.protocol.blinding,
            "unblinded": not result.blinded,
        }
        for patient in result.patients:
            enrollment = patient.enrollment
            locked = (
                local_moment(locks.locked_at(enrollment, result.protocol), enrollment.zoneinfo)
                or None
            )
            for phase in patient.phases:
                yield _row(
                    columns,
                    section="patient",
                    study_id=patient.study_id,
                    arm=patient.arm,
                    status=patient.enrollment.status,
                    physician=patient.enrollment.physician_username,
                    locked_at=locked,
                    **common,
                    **_values(phase),
                )
        for row in result.cohort:
            yield _row(columns, section="cohort", **common, **_values(row))
        if result.ldn_vs_placebo:
            yield _row(
                columns, section="ldn_vs_placebo", **common, **_values(result.ldn_vs_placebo)
            )
        if result.esr_response:
            yield _row(columns, section="esr_response", **common, **_esr_response(result))


def _row(columns, **values) -> list:
    return [_csv_value(values.get(column)) for column in columns]


UNBLINDED_SUFFIX = "-UNBLINDED"


def file_name(stem: str, extension: str, reader) -> str:
    """A download's name; an unblinded file says so (`...-UNBLINDED.csv`)."""
    suffix = UNBLINDED_SUFFIX if reader is blinding.UNBLINDED_FILE else ""
    return f"{stem}{suffix}.{extension}"


def unblinded_path(path: str) -> str:
    """`path` with -UNBLINDED before its extension, unless its name already says so."""
    folder, slash, name = path.rpartition("/")
    stem, dot, extension = name.partition(".") if "." in name.lstrip(".") else (name, "", "")
    if stem.endswith(UNBLINDED_SUFFIX):
        return path
    return f"{folder}{slash}{stem}{UNBLINDED_SUFFIX}{dot}{extension}"


def record_unblinded_export(
    what: str, *, reason: str, user=None, protocol=None, details=None
) -> None:
    """An unblinded file is recorded in the audit trail with who, when, what and why;
    once for a background job's file (`details["job"]`), even if the job is handed out
    again after its worker died."""
    job = (details or {}).get("job")
    if (
        job
        and AuditEvent.objects.filter(
            action=AuditAction.UNBLINDED_EXPORT, details__job=job
        ).exists()
    ):
        return
    AuditEvent.objects.create(
        action=AuditAction.UNBLINDED_EXPORT,
        actor=user,
        actor_name="" if user is not None else shell_actor(),
        protocol=protocol,
        reason=reason,
        details={"export": what, **(details or {})},
    )


# One export, for the downloads page and the commands alike ---------------------------

EXPORTS = {
    "entries.csv": ("entries", "csv", "text/csv"),
    "summaries.csv": ("summaries", "csv", "text/csv"),
    "summaries.json": ("summaries", "json", "application/json"),
    "fhir.json": ("fhir", "json", "application/fhir+json"),
    "visits.csv": ("visits", "csv", "text/csv"),
    "signatures.csv": ("signatures", "csv", "text/csv"),
    "queries.csv": ("queries", "csv", "text/csv"),
}


@dataclass
class ExportFile:
    name: str  # the file name a download gets (…-UNBLINDED for an unblinded file)
    content_type: str
    lines: Iterator[str]  # streamed: entries are read from a cursor as they are written


def run_export(
    what: str,
    enrollments,
    *,
    reader,
    by=None,
    protocol=None,
    as_of: dt.date,
    reason: str = "",
    details: dict | None = None,
) -> ExportFile:
    """Export `what` (a key of EXPORTS) of `enrollments` as `reader` (a blinding file
    reader) may see it. Records the reading in the access log and an unblinded file in
    the audit trail, for `by` (a user; None for a command run in a shell)."""
    stem, extension, content_type = EXPORTS[what]
    unblinded = reader is blinding.UNBLINDED_FILE
    if unblinded:
        record_unblinded_export(
            stem,
            user=by,
            protocol=protocol,
            reason=reason,
            details={"file": what, "as_of": as_of.isoformat(), **(details or {})},
        )
    access.record_access(
        by,
        f"{what}{' (unblinded)' if unblinded else ''}",
        scope=access.file_scope(protocol, enrollments),
    )
    name = file_name(
        f"{stem}-{protocol.slug if protocol else 'all'}-{as_of:%Y-%m-%d}", extension, reader
    )
    if what == "entries.csv":
        return ExportFile(name, content_type, csv_lines(entry_rows(enrollments, reader)))
    if what == "visits.csv":
        return ExportFile(
            name, content_type, csv_lines(visit_exports.visit_rows(enrollments, reader))
        )
    if what == "queries.csv":
        return ExportFile(
            name, content_type, csv_lines(query_exports.query_rows(enrollments, reader))
        )
    if what == "signatures.csv":
        return ExportFile(
            name, content_type, csv_lines(signature_exports.signature_rows(enrollments, reader))
        )
    if what == "fhir.json":
        return ExportFile(name, content_type, fhir.bundle_chunks(enrollments, reader))
    results = summaries.summarize(enrollments, as_of, reader)
    if what == "summaries.csv":
        return ExportFile(name, content_type, csv_lines(summary_rows(results)))
    return ExportFile(name, content_type, iter([summary_json_text(results, as_of)]))
