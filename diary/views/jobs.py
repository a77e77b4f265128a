"""A person's background jobs: the page of one job (its progress bar, then its result
and download), the same as JSON for the bar to follow, and the list of her recent jobs.
A job is its requester's alone: anyone else gets 404, staff and superusers included,
because a job's file is what its requester may see (blinded or not)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from diary.files import export_jobs
from diary.files.imports import jobs as import_jobs
from diary.jobs.models import Job
from diary.jobs.runner import pieces
from diary.trial import blinding
from diary.views.downloads import download_response

RECENT_JOBS = 20


def _own_job(request, job_id) -> Job:
    job = Job.objects.filter(pk=job_id, requested_by=request.user).first()
    if job is None or not may_still_see(request.user, job):
        raise Http404("No such job.")
    return job


def may_still_see(user, job: Job) -> bool:
    """Whether `user` may still see what her job made: the same checks as when it was
    started and run (she may have lost her role or her allocation access since, and an
    unblinded file, or a list of arms, must not stay hers for the days it is kept)."""
    params = job.params
    try:
        if job.kind == "export":
            reader = blinding.UNBLINDED_FILE if params.get("unblinded") else blinding.BLINDED_FILE
            export_jobs.check_access(user, reader)
        elif job.kind in ("import-check", "import-load"):
            kind = import_jobs.kind_for(user, params.get("kind", ""))
            if kind is None:
                return False
            import_jobs.options_allowed(user, kind, dict(params.get("options") or {}))
    except (Http404, PermissionDenied):
        return False
    return True


def job_state(job: Job) -> dict:
    """What the page shows, also sent as JSON while the job runs."""
    download = ""
    if job.file_name:
        download = reverse("diary:job_download", args=[job.pk])
    return {
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "stage": job.stage,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "over": job.is_over,
        "message": job.message,
        "download": download,
        "file_name": job.file_name,
        "file_size": job.file_size,
        "expires": (
            date_format(timezone.localtime(job.expires_at), "DATETIME_FORMAT")
            if job.expires_at and job.file_name
            else ""
        ),
    }


@never_cache
@login_required
@require_safe
def job_page(request, job_id):
    job = _own_job(request, job_id)
    context = {"job": job, "state": job_state(job), "result": job.result}
    return render(request, "diary/job.html", context)


@never_cache
@login_required
@require_safe
def job_status(request, job_id):
    return JsonResponse(job_state(_own_job(request, job_id)))


@never_cache
@login_required
@require_safe
def job_download(request, job_id):
    job = _own_job(request, job_id)
    if not job.file_name:
        raise Http404("This file is no longer kept; start the job again.")
    response = download_response(pieces(job, "output"), job.file_name, job.content_type)
    response["Content-Length"] = str(job.file_size)
    return response


@never_cache
@login_required
@require_safe
def job_list(request):
    recent = Job.objects.filter(requested_by=request.user)[:RECENT_JOBS]
    jobs = [job for job in recent if may_still_see(request.user, job)]
    return render(request, "diary/job_list.html", {"jobs": jobs})
