"""A whole study's export as a background job: the same file, bytes and name as the
direct download, the same checks, progress, and a file that is kept for a while."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from diary.audit.models import AuditAction, AuditEvent
from diary.jobs import runner
from diary.jobs.models import Job, JobStatus
from tests.factories import CoordinatorFactory, EntryFactory
from tests.files.test_exports import AS_OF, enroll

pytestmark = pytest.mark.django_db

FILES = ["entries.csv", "summaries.csv", "summaries.json", "fhir.json"]


@pytest.fixture
def enrollment():
    """FM-001 on LDN (arm A, double-blind) with three entries, one voided."""
    enrollment = enroll(study_id="FM-001", timezone="America/New_York")
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 2), pain=6, vivid_dreams=True)
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 16), pain=3, notes="=1+2, fine")
    EntryFactory(
        enrollment=enrollment, date=dt.date(2026, 1, 17), pain=9, voided=True, void_reason="dup"
    )
    return enrollment


@pytest.fixture(autouse=True)
def inline_jobs(settings):
    settings.JOBS_RUN_INLINE = True


def direct(client, choice, post=False):
    response = (client.post if post else client.get)("/exports/", choice)
    assert response.status_code == 200, response.content[:500]
    name = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    return name, b"".join(response.streaming_content)


def as_job(client, capture, url, choice):
    """Start the job (run inline as its transaction commits) and return it."""
    with capture(execute=True):
        response = client.post(url, choice)
    assert response.status_code == 302, response.content[:500]
    job = Job.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
    assert response["Location"] == reverse("diary:job", args=[job.pk])
    return job


def job_file(client, job):
    response = client.get(reverse("diary:job_download", args=[job.pk]))
    assert response.status_code == 200
    name = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    return name, b"".join(response.streaming_content)


@pytest.mark.parametrize("what", FILES)
@time_machine.travel(dt.datetime(2026, 2, 3, 10, 0, tzinfo=dt.UTC), tick=False)
def test_a_blinded_job_file_is_the_direct_download(
    what, client, enrollment, django_capture_on_commit_callbacks
):
    client.force_login(CoordinatorFactory())
    choice = {"what": what, "protocol": "ldn-fm-2013", "as_of": AS_OF}
    name, content = direct(client, choice)
    job = as_job(client, django_capture_on_commit_callbacks, "/exports/job/", choice)
    assert job.status == JobStatus.DONE, job.message
    assert job_file(client, job) == (name, content)
    assert "UNBLINDED" not in name + job.title
    assert job.content_type.startswith(("text/csv", "application/"))


@pytest.mark.parametrize("what", FILES)
@time_machine.travel(dt.datetime(2026, 2, 3, 10, 0, tzinfo=dt.UTC), tick=False)
def test_an_unblinded_job_file_is_the_direct_download_and_is_audited_once(
    what, client, enrollment, django_capture_on_commit_callbacks
):
    statistician = CoordinatorFactory(allocation_access=True)
    client.force_login(statistician)
    choice = {"what": what, "as_of": AS_OF, "reason": "DSMB interim"}
    name, content = direct(client, choice, post=True)
    assert AuditEvent.objects.count() == 1
    job = as_job(
        client, django_capture_on_commit_callbacks, "/exports/", {**choice, "background": "1"}
    )
    assert job.status == JobStatus.DONE, job.message
    assert job_file(client, job) == (name, content)
    assert name.endswith(("-UNBLINDED.csv", "-UNBLINDED.json"))
    events = AuditEvent.objects.filter(
        action=AuditAction.UNBLINDED_EXPORT, details__job=str(job.pk)
    )
    event = events.get()
    assert (event.actor, event.reason, event.details["file"]) == (
        statistician,
        "DSMB interim",
        what,
    )
    # Handed out again after its worker died: the file again, the reading once.
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    runner.run(str(job.pk))
    assert events.count() == 1
    assert job_file(client, job) == (name, content)


def test_an_unblinded_job_needs_allocation_access(
    client, enrollment, django_capture_on_commit_callbacks
):
    client.force_login(CoordinatorFactory())
    choice = {"what": "entries.csv", "reason": "Curious", "background": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/exports/", choice).status_code == 403
    assert not Job.objects.exists() and not AuditEvent.objects.exists()


def test_a_job_rechecks_access_when_it_runs(client, enrollment, django_capture_on_commit_callbacks):
    statistician = CoordinatorFactory(allocation_access=True)
    client.force_login(statistician)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/exports/", {"what": "entries.csv", "reason": "Final", "background": "1"}
        )
    assert response.status_code == 302
    statistician.allocation_access = False
    statistician.save()
    for callback in callbacks:
        callback()
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and "no longer" in job.message
    assert not job.file_name and not AuditEvent.objects.exists()


def test_a_blinded_coordinators_job_file_has_no_arms(
    client, enrollment, django_capture_on_commit_callbacks
):
    client.force_login(CoordinatorFactory())
    for what in FILES:
        job = as_job(client, django_capture_on_commit_callbacks, "/exports/job/", {"what": what})
        name, content = job_file(client, job)
        text = content.decode()
        assert "UNBLINDED" not in name
        assert "LDN" not in text.replace("ldn-fm-2013", "") and "Placebo" not in text
        assert '"arm": "A"' not in text and ",A," not in text
    assert not AuditEvent.objects.exists()


def test_the_job_counts_the_entries_written(client, enrollment, django_capture_on_commit_callbacks):
    client.force_login(CoordinatorFactory())
    for what in FILES:
        job = as_job(client, django_capture_on_commit_callbacks, "/exports/job/", {"what": what})
        assert (job.done, job.total, job.percent) == (3, 3, 100)
        assert "3 entries" in job.message
    page = client.get(reverse("diary:job", args=[job.pk])).content.decode()
    assert "3 of 3" in page and "Download fhir-all-" in page


def test_a_large_file_is_prepared_as_a_job(
    client, enrollment, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_DIRECT_MAX_ROWS = 2
    client.force_login(CoordinatorFactory())
    # A link (GET) starts nothing: the page offers the job, with the choices filled in.
    page = client.get("/exports/", {"what": "entries.csv"})
    assert page.status_code == 200 and not Job.objects.exists()
    text = page.content.decode()
    assert "more than 2 diary entries, too many to send at once" in text
    assert 'id="export-job"' in text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/exports/job/", {"what": "entries.csv"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "diary:job", args=[job.pk]
    )
    assert job.file_name.startswith("entries-all-") and job.status == JobStatus.DONE
    settings.EXPORT_DIRECT_MAX_ROWS = 3
    assert client.get("/exports/", {"what": "entries.csv"}).status_code == 200


def test_the_file_is_removed_after_it_expires(
    client, enrollment, django_capture_on_commit_callbacks
):
    client.force_login(CoordinatorFactory())
    job = as_job(
        client, django_capture_on_commit_callbacks, "/exports/job/", {"what": "entries.csv"}
    )
    page = client.get(reverse("diary:job", args=[job.pk])).content.decode()
    assert "kept until" in page and "no longer kept" not in page
    assert runner.remove_expired(now=job.expires_at) == 1
    assert client.get(reverse("diary:job_download", args=[job.pk])).status_code == 404
    page = client.get(reverse("diary:job", args=[job.pk])).content.decode()
    assert "This file is no longer kept" in page


def test_someone_elses_export_job_is_not_found(
    client, enrollment, django_capture_on_commit_callbacks
):
    client.force_login(CoordinatorFactory())
    job = as_job(
        client, django_capture_on_commit_callbacks, "/exports/job/", {"what": "entries.csv"}
    )
    client.force_login(CoordinatorFactory(allocation_access=True, is_superuser=True))
    for name in ("diary:job", "diary:job_download", "diary:job_status"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404


def test_the_job_form_reports_bad_input_and_is_for_coordinators(client, enrollment):
    client.force_login(CoordinatorFactory())
    response = client.post("/exports/job/", {"what": "secrets.txt"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert client.get("/exports/job/").status_code == 405
    page = client.get("/exports/").content.decode()
    assert "Prepare as a background job" in page and "48 hours" in page
    client.force_login(enrollment.physician)
    assert client.post("/exports/job/", {"what": "entries.csv"}).status_code == 404
    assert not Job.objects.exists()


def test_an_unblinded_job_file_is_gone_once_its_maker_loses_allocation_access(
    client, enrollment, django_capture_on_commit_callbacks
):
    statistician = CoordinatorFactory(allocation_access=True)
    client.force_login(statistician)
    choice = {"what": "entries.csv", "as_of": AS_OF, "reason": "DSMB interim"}
    job = as_job(
        client, django_capture_on_commit_callbacks, "/exports/", {**choice, "background": "1"}
    )
    assert job.status == JobStatus.DONE
    urls = [reverse(name, args=[job.pk]) for name in ("diary:job", "diary:job_status")]
    urls.append(reverse("diary:job_download", args=[job.pk]))
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
    statistician.allocation_access = False
    statistician.save()
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    assert "UNBLINDED" not in client.get(reverse("diary:job_list")).content.decode()
    statistician.allocation_access = True
    statistician.role = "physician"
    statistician.save()
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
