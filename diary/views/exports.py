"""The coordinators' downloads: the export page and its files, blinded or unblinded,
and the codebook. A file made from more than settings.EXPORT_DIRECT_MAX_ROWS entries,
or one asked for so, is prepared as a background job (diary/files/export_jobs.py) with
the same checks, bytes and name."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from diary import access
from diary.files import export_jobs
from diary.files.codebook import codebook_rows
from diary.files.exports import csv_lines
from diary.files.forms import ExportForm, ExportJobForm, UnblindedExportForm
from diary.trial import blinding
from diary.views.downloads import download_response


@never_cache
def exports(request):
    """The files of the data dictionary for coordinators, streamed. A GET gives what a
    blinded physician sees; an unblinded file needs allocation access, a POST and a
    reason, and is recorded in the audit trail."""
    access.require_coordinator(request.user)
    if request.method == "POST":
        blinding.require_allocation_access(request.user)
        form = UnblindedExportForm(request.POST)
        if form.is_valid():
            return _export(request, form, blinding.UNBLINDED_FILE)
        return _exports_page(request, ExportForm(), form, status=400)
    form = ExportForm(request.GET or None)
    if "unblinded" in request.GET:
        messages.error(
            request,
            "A link never unblinds. Unblinded files are downloaded with the form "
            "“Unblinded file” below, with a reason (allocation access only).",
        )
        return _exports_page(request, ExportForm(), UnblindedExportForm(), status=400)
    if form.is_bound and form.is_valid():
        return _export(request, form, blinding.BLINDED_FILE)
    return _exports_page(request, form, UnblindedExportForm(), status=400 if form.errors else 200)


@never_cache
@require_POST
def export_job(request):
    """The blinded file of the page's choices, prepared as a background job."""
    access.require_coordinator(request.user)
    form = ExportJobForm(request.POST)
    if not form.is_valid():
        return _exports_page(request, ExportForm(), UnblindedExportForm(), form, status=400)
    return _start_job(request, form.cleaned_data, blinding.BLINDED_FILE)


@require_safe
def codebook(request):
    """The codebook of the CSV files (no patient data in it)."""
    access.require_coordinator(request.user)
    return download_response(csv_lines(codebook_rows()), "codebook.csv", "text/csv")


def _exports_page(request, form, unblinded_form, job_form=None, status=200):
    context = {
        "form": form,
        "job_form": job_form or ExportJobForm(),
        "unblinded_form": unblinded_form if request.user.has_allocation_access else None,
        "direct_max_rows": settings.EXPORT_DIRECT_MAX_ROWS,
        "kept_hours": int(settings.JOB_FILES_KEPT.total_seconds() // 3600),
    }
    return render(request, "diary/exports.html", context, status=status)


def _export(request, form, reader):
    """The file sent now, or prepared as a job when asked so or when it is large."""
    choice = form.cleaned_data
    if "background" in request.POST:
        return _start_job(request, choice, reader)
    if export_jobs.too_large_to_send_directly(request.user, choice):
        if request.method != "POST":
            # A link never starts work on the server: she confirms with the job's button.
            messages.info(
                request,
                _(
                    "This file is made from more than %(count)s diary entries, too many to "
                    "send at once: prepare it as a background job with the button under "
                    "“Large files”, and download it when it is ready."
                )
                % {"count": settings.EXPORT_DIRECT_MAX_ROWS},
            )
            job_form = ExportJobForm(initial=request.GET.dict())
            return _exports_page(request, ExportForm(request.GET), UnblindedExportForm(), job_form)
        return _start_job(request, choice, reader, too_large=True)
    export = export_jobs.export_file(request.user, choice, reader)
    return download_response(export.lines, export.name, f"{export.content_type}; charset=utf-8")


def _start_job(request, choice: dict, reader, too_large: bool = False):
    job = export_jobs.start(request.user, choice, reader)
    if too_large:
        messages.info(
            request,
            _(
                "This file is made from more than %(count)s diary entries, so it is "
                "prepared in the background; download it here when it is ready."
            )
            % {"count": settings.EXPORT_DIRECT_MAX_ROWS},
        )
    return redirect(reverse("diary:job", args=[job.pk]))
