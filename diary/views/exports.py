"""The coordinators' downloads: the export page and its files, blinded or unblinded,
and the codebook."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from diary import access
from diary.files.codebook import codebook_rows
from diary.files.exports import csv_lines, run_export
from diary.files.forms import ExportForm, UnblindedExportForm
from diary.trial import blinding, dates
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
            return _export(request, form.cleaned_data, blinding.UNBLINDED_FILE)
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
        return _export(request, form.cleaned_data, blinding.BLINDED_FILE)
    return _exports_page(request, form, UnblindedExportForm(), status=400 if form.errors else 200)


@require_safe
def codebook(request):
    """The codebook of the CSV files (no patient data in it)."""
    access.require_coordinator(request.user)
    return download_response(csv_lines(codebook_rows()), "codebook.csv", "text/csv")


def _exports_page(request, form, unblinded_form, status=200):
    context = {
        "form": form,
        "unblinded_form": unblinded_form if request.user.has_allocation_access else None,
    }
    return render(request, "diary/exports.html", context, status=status)


def _export(request, choice: dict, reader):
    protocol = choice["protocol"]
    enrollments = access.visible_enrollments(request.user)
    if protocol:
        enrollments = enrollments.filter(protocol=protocol)
    export = run_export(
        choice["what"],
        enrollments,
        reader=reader,
        by=request.user,
        protocol=protocol,
        as_of=choice["as_of"] or dates.study_today(),
        reason=choice.get("reason", ""),
    )
    return download_response(export.lines, export.name, f"{export.content_type}; charset=utf-8")
