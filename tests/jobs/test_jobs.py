"""Background jobs as their requester sees them: started, followed on their page, their
result and file, and nobody else's business."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from diary.audit.models import AuditEvent
from diary.jobs import runner
from diary.jobs.models import Job, JobChunk, JobStatus
from tests.factories import CoordinatorFactory
from tests.jobs import support  # noqa: F401  (registers the test kinds)

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator():
    return CoordinatorFactory()


def start(kind, user, **params):
    upload = params.pop("upload", None)
    return runner.start(kind, user, f"Test {kind}", params, upload=upload)


def test_a_job_waits_for_a_worker_until_its_transaction_commits(
    coordinator, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        start("test-echo", coordinator, upload=b"abc")
        assert OrmQ.objects.count() == 0
    assert len(callbacks) == 1
    assert OrmQ.objects.count() == 1
    assert Job.objects.get().status == JobStatus.QUEUED


def test_page_follows_the_job_to_its_download(
    coordinator, client, settings, django_capture_on_commit_callbacks
):
    settings.JOBS_RUN_INLINE = True
    settings.JOB_CHUNK_BYTES = 4
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        job = start("test-echo", coordinator, steps=5, upload=b"line one\nline two\n")
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.message == "Echoed 5 steps."
    assert (job.done, job.total, job.percent) == (5, 5, 100)
    assert JobChunk.objects.filter(job=job, role="input").count() == 0  # input dropped
    assert JobChunk.objects.filter(job=job, role="output").count() == 5  # 18 bytes / 4

    page = client.get(reverse("diary:job", args=[job.pk]))
    assert page.status_code == 200
    assert b"Echoed 5 steps." in page.content and b"Download echo.txt" in page.content
    state = client.get(reverse("diary:job_status", args=[job.pk])).json()
    assert state["over"] and state["percent"] == 100 and state["download"]
    download = client.get(state["download"])
    assert download["Content-Disposition"] == 'attachment; filename="echo.txt"'
    assert download["Content-Length"] == "18"
    assert b"".join(download.streaming_content) == b"line one\nline two\n"
    listing = client.get(reverse("diary:job_list"))
    assert b"Test test-echo" in listing.content


def test_a_waiting_job_shows_its_bar_at_zero(coordinator, client):
    client.force_login(coordinator)
    job = start("test-echo", coordinator)
    page = client.get(reverse("diary:job", args=[job.pk]))
    assert b'<progress id="job-progress"' in page.content and b'value="0"' in page.content
    assert b"Waiting for a worker" in page.content
    assert b'http-equiv="refresh"' in page.content  # reloads itself without JavaScript


def test_someone_elses_job_is_not_found(coordinator, client):
    job = start("test-echo", coordinator)
    other = CoordinatorFactory(is_superuser=True, is_staff=True)
    client.force_login(other)
    for name in ("diary:job", "diary:job_status", "diary:job_download"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    client.logout()
    page = client.get(reverse("diary:job", args=[job.pk]))
    assert page.status_code == 302  # to the sign-in page


def test_a_refused_job_says_why_and_keeps_nothing(coordinator, settings, client):
    settings.JOBS_RUN_INLINE = True
    job = start("test-refuse", coordinator)
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.message == "Line 3: the study ID DEMO-999 is not enrolled."
    client.force_login(coordinator)
    assert b"DEMO-999 is not enrolled" in client.get(reverse("diary:job", args=[job.pk])).content


def test_an_unexpected_error_fails_the_job_with_a_plain_message(coordinator, caplog):
    job = start("test-crash", coordinator)
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "unexpected error; nothing was changed" in job.message
    assert "a bug" not in job.message
    assert f"Job {job.pk} (test-crash) failed" in caplog.text


def test_a_job_handed_out_again_starts_over_and_completes_once(coordinator):
    job = start("test-slow", coordinator, steps=1, sleep=0)
    # The first worker died mid-job: running, partial output left behind.
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=1, done=7)
    JobChunk.objects.create(job=job, role="output", seq=0, data=b"partial")
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)
    assert not JobChunk.objects.filter(job=job).exists()
    # Handed out a third time after it finished: nothing happens again.
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.attempts == 2
    assert AuditEvent.objects.filter(reason=str(job.pk)).count() == 1


def test_expired_files_are_removed_and_the_job_says_so(coordinator, client, settings):
    settings.JOBS_RUN_INLINE = True
    job = start("test-echo", coordinator, upload=b"x")
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.expires_at - timezone.now() > dt.timedelta(hours=47)
    assert runner.remove_expired(now=job.expires_at - dt.timedelta(seconds=1)) == 0
    assert runner.remove_expired(now=job.expires_at) == 1
    job.refresh_from_db()
    assert job.file_name == "" and not JobChunk.objects.filter(job=job).exists()
    client.force_login(coordinator)
    assert client.get(reverse("diary:job_download", args=[job.pk])).status_code == 404


def test_schedules_are_written_after_migrate():
    from django_q.models import Schedule

    from diary.tasks import SCHEDULES, sync_schedules

    Schedule.objects.all().delete()
    Schedule.objects.create(name="Old one", func="diary.tasks.gone", schedule_type="I", minutes=3)
    sync_schedules()
    sync_schedules()
    rows = {s.name: (s.func, s.minutes) for s in Schedule.objects.all()}
    assert rows == SCHEDULES


def test_the_periodic_functions_do_what_their_commands_do(coordinator, mailoutbox):
    from diary import tasks

    assert tasks.refresh_alerts().startswith("raised 0, closed 0")
    assert tasks.send_reminders().startswith("sent 0")
    assert tasks.remove_expired_files() == "removed 0 expired file(s)"


def test_a_job_cut_off_on_every_hand_out_but_the_last_fails_on_the_last(coordinator):
    job = start("test-slow", coordinator, steps=1, sleep=0)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=2)
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 2
    assert "cut off 2 times" in job.message
    assert not AuditEvent.objects.filter(reason=str(job.pk)).exists()
