"""Imports on the web, for coordinators (docs/imports.md): pick the kind of file and
upload it; its check runs as a job whose page (the preview) lists every problem; a file
without problems is imported by a second job, from the same upload, checked again.

Who may import what is diary.files.imports.jobs.kinds_for (coordinators; allocation-
revealing kinds only with allocation access); anyone else gets 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from diary import access
from diary.files.import_form import ImportForm
from diary.files.imports import jobs as import_jobs
from diary.jobs.models import Job, JobStatus
from diary.views.jobs import job_state


def _kind(request, key: str):
    access.require_coordinator(request.user)
    kind = import_jobs.kind_for(request.user, key)
    if kind is None:
        raise Http404("No such import.")
    return kind


@never_cache
@login_required
@require_safe
def imports(request):
    access.require_coordinator(request.user)
    return render(request, "diary/imports.html", {"kinds": import_jobs.kinds_for(request.user)})


@never_cache
@login_required
def upload(request, kind):
    kind = _kind(request, kind)
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES, kind=kind, user=request.user)
        if form.is_valid():
            options = form.options()
            import_jobs.options_allowed(request.user, kind, options)
            job = import_jobs.start_check(request.user, kind, form.cleaned_data["file"], options)
            return redirect("diary:import_check", job.pk)
        status = 400
    else:
        form = ImportForm(kind=kind, user=request.user)
        status = 200
    return render(request, "diary/import_upload.html", {"kind": kind, "form": form}, status=status)


def _check_job(request, job_id) -> tuple[Job, object]:
    """The user's own check job, of a kind she may still import."""
    access.require_coordinator(request.user)
    job = Job.objects.filter(
        pk=job_id, requested_by=request.user, kind=import_jobs.CHECK_JOB
    ).first()
    if job is None:
        raise Http404("No such check.")
    kind = import_jobs.kind_for(request.user, job.params.get("kind", ""))
    if kind is None:
        raise Http404("No such check.")
    return job, kind


def _importable(job: Job) -> bool:
    result = job.result or {}
    return (
        job.status == JobStatus.DONE
        and result.get("checked")
        and not result.get("problems")
        and result.get("created", 0) > 0
        and bool(job.file_name)
    )


@never_cache
@login_required
@require_safe
def check(request, job_id):
    """The preview: the check job's progress while it runs (jobs.js reloads the page
    when it is over), then the summary, every problem, and the Import button."""
    job, kind = _check_job(request, job_id)
    result = job.result or {}
    context = {
        "job": job,
        "kind": kind,
        "state": job_state(job),
        "result": result,
        "importable": _importable(job),
        "import_job": result.get("import_job"),
        "expired": job.status == JobStatus.DONE and result.get("checked") and not job.file_name,
    }
    return render(request, "diary/import_check.html", context)


@login_required
@require_POST
def start(request, job_id):
    """Import the checked file (once: a second click shows the same import job)."""
    job, kind = _check_job(request, job_id)
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        started = (job.result or {}).get("import_job")
        if started:
            return redirect("diary:job", started)
        if not _importable(job):
            return redirect(reverse("diary:import_check", args=[job.pk]))
        import_job = import_jobs.start_import(request.user, job)
        job.result = {**job.result, "import_job": str(import_job.pk)}
        job.save(update_fields=["result"])
    return redirect("diary:job", import_job.pk)
