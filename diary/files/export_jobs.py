"""A study's export prepared as a background job (docs/jobs.md): the same choices as the
Downloads page, the same checks, the same bytes and the same file name as the direct
download, streamed into the job's file with the rows done of the total as progress.

The direct download and the job share `check_access` and `export_file`, so there is one
home for who may have which file and for what goes into it (including the audit trail's
record of an unblinded file, with its reason)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from diary import access
from diary.entries.models import DiaryEntry
from diary.files.exports import ExportFile, run_export
from diary.jobs import runner
from diary.trial import blinding, dates
from diary.trial.models import Protocol

KIND = "export"


def check_access(user, reader) -> None:
    """Coordinators only (others 404); an unblinded file needs allocation access (403)."""
    access.require_coordinator(user)
    if reader is blinding.UNBLINDED_FILE:
        blinding.require_allocation_access(user)


def chosen_enrollments(user, protocol):
    enrollments = access.visible_enrollments(user)
    return enrollments.filter(protocol=protocol) if protocol else enrollments


def entry_count(user, protocol) -> int:
    """The diary entries a file is made from: its size, for EXPORT_DIRECT_MAX_ROWS and
    for the job's progress."""
    enrollments = chosen_enrollments(user, protocol)
    return DiaryEntry.objects.filter(enrollment_id__in=enrollments.values("pk")).count()


def too_large_to_send_directly(user, choice: dict) -> int:
    """The number of entries of the chosen file when it is above
    settings.EXPORT_DIRECT_MAX_ROWS (it is then prepared as a job), else 0."""
    count = entry_count(user, choice["protocol"])
    return count if count > settings.EXPORT_DIRECT_MAX_ROWS else 0


def export_file(user, choice: dict, reader, details: dict | None = None) -> ExportFile:
    """The file of `choice` (ExportForm's cleaned data) for `user` as `reader` may see
    it: what the direct download sends and the job keeps."""
    protocol = choice["protocol"]
    return run_export(
        choice["what"],
        chosen_enrollments(user, protocol),
        reader=reader,
        by=user,
        protocol=protocol,
        as_of=choice["as_of"] or dates.study_today(),
        reason=choice.get("reason", ""),
        details=details,
    )


def start(user, choice: dict, reader):
    """Start the job of `choice`; its as-of date is fixed now, as a direct download's
    would be (so its file name and contents are those of a download made now)."""
    check_access(user, reader)
    protocol = choice["protocol"]
    as_of = choice["as_of"] or dates.study_today()
    unblinded = reader is blinding.UNBLINDED_FILE
    params = {
        "what": choice["what"],
        "protocol": protocol.slug if protocol else "",
        "as_of": as_of.isoformat(),
        "unblinded": unblinded,
        "reason": choice.get("reason", "") if unblinded else "",
    }
    title = _("Export %(file)s") % {"file": choice["what"]}
    if unblinded:
        title = _("Export %(file)s, unblinded") % {"file": choice["what"]}
    return runner.start(KIND, user, title, params)


def run(context) -> str:
    """The job: re-check access as the requester is now, then write the file."""
    params = context.params
    reader = blinding.UNBLINDED_FILE if params.get("unblinded") else blinding.BLINDED_FILE
    user = context.user
    try:
        check_access(user, reader)
    except (Http404, PermissionDenied):
        raise runner.JobRefused(
            _("You may no longer have this file (your access has changed); nothing was written.")
        ) from None
    protocol = None
    if params["protocol"]:
        protocol = Protocol.objects.filter(slug=params["protocol"]).first()
        if protocol is None:
            raise runner.JobRefused(_("The protocol of this file no longer exists."))
    choice = {
        "what": params["what"],
        "protocol": protocol,
        "as_of": dt.date.fromisoformat(params["as_of"]),
        "reason": params.get("reason", ""),
    }
    total = entry_count(user, protocol)
    lead = {"entries.csv": 1, "fhir.json": 2}.get(choice["what"], 0)
    if choice["what"] == "fhir.json":
        lead += chosen_enrollments(user, protocol).count()
    context.progress(0, total, _("Reading the entries"))
    export = export_file(user, choice, reader, details={"job": str(context.job.pk)})
    context.write_output(
        export.name,
        f"{export.content_type}; charset=utf-8",
        _counted(context, export, total, lead),
    )
    return _("The file is ready: %(count)s entries.") % {"count": total}


def _counted(context, export: ExportFile, total: int, lead: int) -> Iterator[str]:
    """The file's pieces, counting the entries written: a line of the entries CSV (after
    its header), a QuestionnaireResponse of the FHIR Bundle (after its head, its
    Questionnaire and a Patient each: `lead` pieces). The summaries are computed before
    their first piece, and count as done at the end."""
    context.progress(0, total, _("Writing %(file)s") % {"file": export.name})
    done = -lead
    for piece in export.lines:
        yield piece
        done += 1
        if 0 < done <= total:
            context.progress(done)
    context.progress(total, total)
