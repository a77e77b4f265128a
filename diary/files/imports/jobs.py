"""Imports on the web (docs/imports.md): the kinds of file a coordinator may upload, who
may import each, and the two jobs of an upload: the check (every problem, nothing
written) and the import (the same file checked again and loaded, all or nothing, once).

A kind is one entry of KINDS. Its `load` is the import function the commands use, so
the rules, the messages and the recording (history rows' reason, audit events) are
theirs; the jobs only add who imports (`by`) and the name the file was uploaded under.
"""

from __future__ import annotations

import contextlib
import csv
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from diary.files import imports
from diary.jobs import runner
from diary.trial import blinding
from diary.trial.models import Protocol

CHECK_JOB = "import-check"
IMPORT_JOB = "import-load"


@dataclass(frozen=True)
class ImportKind:
    key: str
    label: str
    description: str
    # load(path, *, by, file_name, check_only, **options) -> Outcome; raises ImportFailed
    load: Callable
    # The file reveals or sets allocations: only for staff with allocation access.
    allocation: bool = False
    # Options of the upload form: a protocol and "replace" (randomization lists), an
    # unblinded import with a reason (enrollments, allocation access only).
    protocol: bool = False
    unblinded: bool = False


def _randomization(path, *, protocol, replace=False, **kwargs):
    try:
        chosen = Protocol.objects.get(pk=protocol)
    except Protocol.DoesNotExist:
        raise imports.ImportFailed([_("the protocol chosen no longer exists")]) from None
    return imports.import_randomization_list(path, chosen, replace=replace, **kwargs)


KINDS = [
    ImportKind(
        "users",
        gettext_lazy("Accounts"),
        gettext_lazy(
            "Columns username, email, role (patient, physician or coordinator). Accounts "
            "get no usable password: they are invited later."
        ),
        imports.import_users,
    ),
    ImportKind(
        "enrollments",
        gettext_lazy("Enrollments"),
        gettext_lazy(
            "Columns study_id, username, email, physician, protocol, start_date and "
            "optionally arm (blank = randomized), timezone, status, withdrawn_on. Unknown "
            "usernames become patient accounts."
        ),
        imports.import_enrollments,
        unblinded=True,
    ),
    ImportKind(
        "entries",
        gettext_lazy("Diary entries"),
        gettext_lazy(
            "Columns study_id, date, pain, fatigue, sleep_quality, vivid_dreams, headache "
            "and optionally dose_taken, tolerability, notes (source: import)."
        ),
        imports.import_entries,
    ),
    ImportKind(
        "visits",
        gettext_lazy("Clinic visits"),
        gettext_lazy(
            "Columns study_id, visit_date and optionally esr (mm/h, 0-150), "
            "pressure_threshold (kg/cm2, 0.0-15.0), heat_threshold (°C, 30.0-52.0), notes; "
            "a blank measure is not done (source: import)."
        ),
        imports.import_visits,
    ),
    ImportKind(
        "randomization",
        gettext_lazy("Randomization list"),
        gettext_lazy(
            "Columns sequence, arm, for one protocol: the allocations it uses in order. "
            "Allocation access only."
        ),
        _randomization,
        allocation=True,
        protocol=True,
    ),
]
BY_KEY = {kind.key: kind for kind in KINDS}


def kinds_for(user) -> list[ImportKind]:
    """The kinds `user` may import: coordinators only; a kind that reveals allocations
    only with allocation access (blinding.sees_allocation)."""
    if not getattr(user, "is_coordinator", False):
        return []
    return [kind for kind in KINDS if not kind.allocation or blinding.sees_allocation(user)]


def kind_for(user, key: str) -> ImportKind | None:
    return next((kind for kind in kinds_for(user) if kind.key == key), None)


def options_allowed(user, kind: ImportKind, options: dict) -> None:
    """An unblinded import only for allocation access (PermissionDenied otherwise)."""
    if options.get("unblinded_reason"):
        blinding.require_allocation_access(user)


def start_check(user, kind: ImportKind, upload, options: dict):
    """The check of an uploaded file, as a job (the file is kept with it)."""
    params = {"kind": kind.key, "file_name": upload.name, "options": options}
    title = _("Check of %(file)s (%(kind)s)") % {"file": upload.name, "kind": kind.label}
    return runner.start(CHECK_JOB, user, title, params, upload=upload)


class _Kept:
    """The file a check kept, handed to runner.start as an upload."""

    def __init__(self, check_job):
        self.job = check_job

    def chunks(self, size=None):
        return runner.pieces(self.job, "output")


def start_import(user, check_job):
    """The import of the file a check job found without problems, as a job."""
    params = dict(check_job.params, check=str(check_job.pk))
    kind = BY_KEY[params["kind"]]
    title = _("Import of %(file)s (%(kind)s)") % {"file": params["file_name"], "kind": kind.label}
    return runner.start(IMPORT_JOB, user, title, params, upload=_Kept(check_job))


def run_check(context) -> str:
    """Check the whole file, writing nothing: every problem, and how many rows."""
    kind, options, file_name = _job_kind(context)
    context.progress(0, 1, _("Checking the file"))
    # The file stays with this job for the import that may follow (kept like a job's
    # output file: JOB_FILES_KEPT, then removed).
    context.write_output(file_name, "text/csv", context.input_pieces())
    with _copy(context.input_pieces()) as path:
        rows = _data_rows(path)
        try:
            outcome = kind.load(
                path, by=context.user, file_name=file_name, check_only=True, **options
            )
        except imports.FileUnreadable as error:
            raise runner.JobRefused(str(error)) from None
        except imports.ImportFailed as failed:
            problems = _storable(failed.problems)
            context.finish(
                _summary(rows, len(problems))
                + " "
                + _("Nothing can be imported until they are fixed."),
                {"rows": rows, "problems": problems, "checked": True},
            )
            return context.job.message
    if outcome.created:
        found = _("%(new)s to add, %(same)s already present and unchanged.")
    else:
        found = _("Nothing to import: %(same)s row(s) already present and unchanged.")
    found %= {"new": outcome.created, "same": outcome.unchanged}
    message = f"{_summary(rows, 0)} {found}"
    context.finish(
        message,
        {
            "rows": rows,
            "problems": [],
            "checked": True,
            "created": outcome.created,
            "unchanged": outcome.unchanged,
        },
    )
    return message


def run_import(context) -> str:
    """Check the file again (the data may have changed since the preview) and load it:
    all of it, with the job's "done", or nothing."""
    kind, options, file_name = _job_kind(context)
    context.progress(0, 1, _("Checking and loading the file"))
    with _copy(context.input_pieces()) as path:
        try:
            with context.finish_in(_("Imported."), None) as ending:
                outcome = kind.load(path, by=context.user, file_name=file_name, **options)
                ending["message"] = ngettext(
                    "Imported %(count)s row (%(same)s already present, unchanged).",
                    "Imported %(count)s rows (%(same)s already present, unchanged).",
                    outcome.created,
                ) % {"count": outcome.created, "same": outcome.unchanged}
                ending["result"] = {"created": outcome.created, "unchanged": outcome.unchanged}
        except imports.FileUnreadable as error:
            raise runner.JobRefused(str(error)) from None
        except imports.ImportFailed as failed:
            count = len(failed.problems)
            context.fail(
                ngettext(
                    "Nothing was imported: %(count)s problem was found in the file.",
                    "Nothing was imported: %(count)s problems were found in the file.",
                    count,
                )
                % {"count": count}
                + " "
                + _("The data may have changed since the check; fix the file and upload it again."),
                {"problems": _storable(failed.problems)},
            )
            return context.job.message
    return context.job.message


def _job_kind(context):
    """The job's kind and options, with the requester's access checked again: she may
    have lost her role or her allocation access since she uploaded the file."""
    params = context.params
    kind = kind_for(context.user, params.get("kind", ""))
    if kind is None:
        raise runner.JobRefused(_("You may no longer import this kind of file."))
    options = dict(params.get("options") or {})
    try:
        options_allowed(context.user, kind, options)
    except PermissionDenied:
        raise runner.JobRefused(_("You may no longer import this kind of file.")) from None
    return kind, options, params.get("file_name", "")


@contextlib.contextmanager
def _copy(pieces):
    """The uploaded file as a temporary file, for the import functions (they read a
    path, twice)."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as copy:
        for piece in pieces:
            copy.write(piece)
        copy.flush()
        yield copy.name


def _data_rows(path) -> int:
    """How many rows the file has after its header, for the summary (blank rows left
    out); the check itself says what is wrong with an unreadable one."""
    count = 0
    with (
        contextlib.suppress(UnicodeDecodeError, csv.Error, OSError),
        open(path, encoding="utf-8-sig", newline="") as file,
    ):
        reader = csv.reader(file)
        next(reader, None)
        for row in reader:
            if "".join(row).strip():
                count += 1
    return count


def _storable(problems: list[str]) -> list[str]:
    """The problems as the job's result can keep them: PostgreSQL's JSON takes no NUL
    character, which a message quoting a binary file's cell may hold."""
    return [problem.replace("\x00", "\\x00") for problem in problems]


def _summary(rows: int, problems: int) -> str:
    return (
        ngettext("%(rows)s row", "%(rows)s rows", rows) % {"rows": rows}
        + ", "
        + (
            ngettext("%(count)s problem.", "%(count)s problems.", problems) % {"count": problems}
            if problems
            else _("no problems.")
        )
    )
