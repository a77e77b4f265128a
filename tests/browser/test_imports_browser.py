"""A coordinator uploads a CSV on /imports/: the preview waits for its check job, then
lists the result; Import starts the import job, whose page follows it to the end by
itself (jobs.js polls the job's status and reloads). The jobs run in the test process
(live_server shares the database)."""

import pytest

from diary.jobs import runner
from diary.jobs.models import Job
from diary.people.models import User
from tests.factories import PASSWORD, CoordinatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USERS = "username,email,role\nana,ana@example.org,patient\nbob,bob@example.org,physician\n"


def test_upload_preview_import_and_the_job_page_follows_the_job(
    page, expect, live_server, settings, tmp_path
):
    settings.JOBS_RUN_INLINE = False
    coordinator = CoordinatorFactory()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", coordinator.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Import a CSV file").click()
    page.get_by_role("link", name="Accounts").click()
    upload = tmp_path / "staff.csv"
    upload.write_text(USERS, encoding="utf-8")
    page.set_input_files("#id_file", str(upload))
    page.get_by_role("button", name="Check the file").click()

    # The check waits for a worker.
    expect(page.locator("#job-progress")).to_be_visible()
    check = Job.objects.get(kind="import-check")
    runner.run(str(check.pk))
    expect(page.locator("#check-summary")).to_contain_text("2 rows, no problems.")
    assert not User.objects.filter(username="ana").exists()

    page.locator("#import-button").click()
    expect(page.locator("#job-progress")).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("Waiting for a worker")
    job = Job.objects.get(kind="import-load")
    runner.run(str(job.pk))
    expect(page.locator("#job-message")).to_contain_text("Imported 2 rows")
    expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    assert User.objects.filter(username__in=["ana", "bob"]).count() == 2
