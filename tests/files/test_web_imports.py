"""Imports on the web: upload, a preview listing every problem (the check is a job),
then the import as a job from the same upload, checked again, all or nothing, once;
coordinators only, allocation-revealing kinds only with allocation access."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from diary.audit.models import AuditAction, AuditEvent
from diary.entries.models import DiaryEntry
from diary.jobs.models import Job, JobStatus
from diary.people.models import User
from diary.trial.models import Enrollment, Protocol, RandomizationSlot
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]
# Noon in Los Angeles on 2026-03-10.
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("America/Los_Angeles"))

USERS_BAD = (
    "username,email,role\n"
    "ana,ana@example.org,patient\n"
    "bo b,bob@example.org,patient\n"
    "cy,not-an-address,physician\n"
    "dee,dee@example.org,nurse\n"
)
USERS_GOOD = (
    "username,email,role\n"
    "ana,ana@example.org,patient\n"
    "bob,bob@example.org,patient\n"
    "cy,cy@example.org,physician\n"
)
ENTRY_HEADER = "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache\n"


@pytest.fixture
def inline_jobs(settings):
    settings.JOBS_RUN_INLINE = True


@pytest.fixture
def coordinator(client):
    user = CoordinatorFactory(username="coord")
    client.force_login(user)
    return user


@pytest.fixture
def statistician(client):
    user = CoordinatorFactory(username="stat", allocation_access=True)
    client.force_login(user)
    return user


def csv_file(text, name="file.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def upload(client, kind, text, capture, name="file.csv", **fields):
    """Post the file (its check runs inline) and return the preview page's response."""
    with capture(execute=True):
        response = client.post(
            reverse("diary:import_upload", args=[kind]), {"file": csv_file(text, name), **fields}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    LATEST["check"] = response["Location"].rstrip("/").rsplit("/", 1)[1]
    return client.get(response["Location"])


LATEST = {}


def check_job():
    """The check job of the latest upload (the clock stands still: not by its time)."""
    return Job.objects.get(pk=LATEST["check"], kind="import-check")


def import_it(client, capture):
    """Press Import on the latest preview; return the import job's page."""
    with capture(execute=True):
        response = client.post(reverse("diary:import_start", args=[check_job().pk]))
    assert response.status_code == 302
    return client.get(response["Location"])


def test_the_preview_lists_every_problem_then_the_fixed_file_is_imported(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks
):
    page = upload(client, "users", USERS_BAD, django_capture_on_commit_callbacks, "staff.csv")
    text = page.content.decode()
    assert page.status_code == 200
    assert "4 rows, 3 problems." in text
    assert "line 3: username" in text
    assert "line 4: email" in text
    assert "line 5: role" in text
    assert 'id="import-button"' not in text
    assert not User.objects.filter(username="ana").exists()

    page = upload(client, "users", USERS_GOOD, django_capture_on_commit_callbacks, "staff.csv")
    text = page.content.decode()
    assert "3 rows, no problems. 3 to add, 0 already present" in text
    assert 'id="import-button"' in text
    assert not User.objects.filter(username="ana").exists()  # the check writes nothing

    page = import_it(client, django_capture_on_commit_callbacks)
    job = Job.objects.get(kind="import-load")
    assert job.status == JobStatus.DONE
    assert 'id="job-progress"' in page.content.decode()
    assert "Imported 3 rows" in page.content.decode()
    ana = User.objects.get(username="ana")
    record = ana.history.get()
    assert record.history_change_reason == "Imported from staff.csv by coord"
    assert record.history_user == coordinator

    # Imported once: pressing Import again shows the same job.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(reverse("diary:import_start", args=[check_job().pk]))
    assert again["Location"] == reverse("diary:job", args=[job.pk])
    assert Job.objects.filter(kind="import-load").count() == 1
    assert User.objects.filter(username__in=["ana", "bob", "cy"]).count() == 3


def test_a_problem_found_at_import_time_loads_nothing(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks
):
    enrollment = EnrollmentFactory(
        study_id="FM-001", arm=builtin_arm("ldn-fm-2013", "A"), start_date=dt.date(2026, 2, 1)
    )
    text = ENTRY_HEADER + "FM-001,2026-02-02,5,5,5,no,no\nFM-001,2026-02-03,6,6,6,no,no\n"
    page = upload(client, "entries", text, django_capture_on_commit_callbacks)
    assert "2 rows, no problems. 2 to add" in page.content.decode()
    # Meanwhile the same day is entered with other values.
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 3), pain=1)
    before = DiaryEntry.objects.count()
    page = import_it(client, django_capture_on_commit_callbacks)
    job = Job.objects.get(kind="import-load")
    assert job.status == JobStatus.FAILED
    assert "Nothing was imported: 1 problem" in job.message
    assert job.result["problems"][0].startswith("line 3: FM-001 already has an entry")
    assert "line 3: FM-001 already has an entry" in page.content.decode()
    assert DiaryEntry.objects.count() == before


def test_entries_are_loaded_with_their_history(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks
):
    EnrollmentFactory(
        study_id="FM-001", arm=builtin_arm("ldn-fm-2013", "A"), start_date=dt.date(2026, 2, 1)
    )
    text = ENTRY_HEADER + "FM-001,2026-02-02,5,5,5,no,no\n"
    upload(client, "entries", text, django_capture_on_commit_callbacks, "paper.csv")
    import_it(client, django_capture_on_commit_callbacks)
    entry = DiaryEntry.objects.get()
    assert entry.source == "import"
    assert entry.history.get().history_change_reason == "Imported from paper.csv by coord"


@pytest.mark.parametrize("make", [PatientFactory, PhysicianFactory])
def test_only_coordinators_see_the_imports(client, make):
    client.force_login(make())
    assert client.get(reverse("diary:imports")).status_code == 404
    assert client.get(reverse("diary:import_upload", args=["users"])).status_code == 404
    response = client.post(
        reverse("diary:import_upload", args=["users"]), {"file": csv_file(USERS_GOOD)}
    )
    assert response.status_code == 404
    assert not Job.objects.exists()


def test_signed_out_is_sent_to_sign_in(client):
    assert client.get(reverse("diary:imports")).status_code == 302


def test_a_check_is_its_requesters_only(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks
):
    upload(client, "users", USERS_GOOD, django_capture_on_commit_callbacks)
    job = check_job()
    client.force_login(CoordinatorFactory())
    assert client.get(reverse("diary:import_check", args=[job.pk])).status_code == 404
    assert client.post(reverse("diary:import_start", args=[job.pk])).status_code == 404
    assert not Job.objects.filter(kind="import-load").exists()


def test_a_blinded_coordinator_cannot_import_randomization_lists(client, coordinator):
    page = client.get(reverse("diary:imports"))
    assert page.status_code == 200
    assert reverse("diary:import_upload", args=["randomization"]) not in page.content.decode()
    assert reverse("diary:import_upload", args=["users"]) in page.content.decode()
    url = reverse("diary:import_upload", args=["randomization"])
    assert client.get(url).status_code == 404
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    response = client.post(
        url, {"file": csv_file("sequence,arm\n1,A\n2,B\n"), "protocol": protocol.slug}
    )
    assert response.status_code == 404
    assert not RandomizationSlot.objects.exists()
    assert not Job.objects.exists()


def test_a_blinded_coordinator_gets_no_unblinded_enrollment_import(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks
):
    PhysicianFactory(username="drx")
    page = client.get(reverse("diary:import_upload", args=["enrollments"]))
    assert "unblinded" not in page.content.decode()
    text = (
        "study_id,username,email,physician,protocol,arm,start_date\n"
        "FM-010,pat10,pat10@example.org,drx,ldn-fm-2013,A,2026-03-01\n"
    )
    # The unblinded option is not hers: posted anyway, it is left out.
    page = upload(
        client,
        "enrollments",
        text,
        django_capture_on_commit_callbacks,
        unblinded="on",
        reason="moving in",
    )
    body = page.content.decode()
    assert "1 row, 1 problem." in body
    assert "assigned by randomization only" in body
    assert check_job().params["options"] == {}


def test_a_blinded_enrollment_import_randomizes_and_shows_no_arm(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks
):
    PhysicianFactory(username="drx")
    text = (
        "study_id,username,email,physician,protocol,start_date\n"
        "FM-010,pat10,pat10@example.org,drx,ldn-fm-2013,2026-03-01\n"
    )
    upload(client, "enrollments", text, django_capture_on_commit_callbacks)
    page = import_it(client, django_capture_on_commit_callbacks)
    enrollment = Enrollment.objects.get(study_id="FM-010")
    assert enrollment.arm_id is not None
    job = Job.objects.get(kind="import-load")
    assert job.message == "Imported 1 row (0 already present, unchanged)."
    assert f">{enrollment.arm.code}<" not in page.content.decode()
    assert enrollment.history.get().history_user == coordinator


def test_allocation_access_imports_a_randomization_list(
    client, statistician, inline_jobs, django_capture_on_commit_callbacks
):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    text = "sequence,arm\n1,A\n2,B\n3,B\n4,A\n"
    page = upload(
        client, "randomization", text, django_capture_on_commit_callbacks, protocol=protocol.slug
    )
    assert "4 rows, no problems." in page.content.decode()
    import_it(client, django_capture_on_commit_callbacks)
    assert protocol.randomization_slots.count() == 4
    event = AuditEvent.objects.get(action=AuditAction.RANDOMIZATION_LIST)
    assert event.actor == statistician
    assert event.details["rows added"] == 4


def test_allocation_lost_before_the_import_loads_nothing(
    client, statistician, inline_jobs, django_capture_on_commit_callbacks
):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    upload(
        client,
        "randomization",
        "sequence,arm\n1,A\n2,B\n",
        django_capture_on_commit_callbacks,
        protocol=protocol.slug,
    )
    job = check_job()
    User.objects.filter(pk=statistician.pk).update(allocation_access=False)
    # Her page is gone (404), and a job started meanwhile refuses.
    assert client.post(reverse("diary:import_start", args=[job.pk])).status_code == 404
    from diary.files.imports import jobs as import_jobs

    statistician.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        started = import_jobs.start_import(statistician, job)
    started.refresh_from_db()
    assert started.status == JobStatus.FAILED
    assert "no longer import" in started.message
    assert not RandomizationSlot.objects.exists()


def test_an_unblinded_enrollment_import_needs_a_reason(client, statistician):
    url = reverse("diary:import_upload", args=["enrollments"])
    text = "study_id,username,email,physician,protocol,start_date\n"
    response = client.post(url, {"file": csv_file(text), "unblinded": "on", "reason": " "})
    assert response.status_code == 400
    assert "Give a reason for an unblinded import" in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"username,email,role\n\xff\xfe,x,y\n", "line 2: the file is not UTF-8 text"),
        (b"\x00\x01\x02PK binary", "line 1:"),
        (b"name,mail\nana,ana@example.org\n", "line 1: missing column(s): username, email, role"),
        (b"username,email,role\n", "0 rows, no problems. Nothing to import"),
        (b'username,email,role\n"ana,ana@example.org\n', "problem"),
    ],
)
def test_bad_files_get_clear_messages(
    client, coordinator, inline_jobs, django_capture_on_commit_callbacks, data, message
):
    page = upload(client, "users", data, django_capture_on_commit_callbacks)
    assert page.status_code == 200
    job = check_job()
    assert job.status in (JobStatus.DONE, JobStatus.FAILED)
    assert "unexpected error" not in job.message
    text = page.content.decode()
    assert message in text or message in job.message, text
    assert 'id="import-button"' not in text


def test_an_empty_or_oversized_upload_is_refused_with_a_message(client, coordinator, settings):
    url = reverse("diary:import_upload", args=["users"])
    response = client.post(url, {"file": csv_file(b"", "empty.csv")})
    assert response.status_code == 400
    assert "empty" in response.content.decode()
    settings.UPLOAD_LIMIT_BYTES = 10
    response = client.post(url, {"file": csv_file(USERS_GOOD)})
    assert response.status_code == 400
    assert "an import may be at most" in response.content.decode()
    response = client.post(url, {})
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_an_unknown_kind_is_404(client, coordinator):
    assert client.get(reverse("diary:import_upload", args=["nonsense"])).status_code == 404


def test_the_admin_index_links_the_imports(client, coordinator):
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert reverse("diary:imports") in page.content.decode()
