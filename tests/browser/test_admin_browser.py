"""A coordinator enrolls a patient in the admin; the invitation's link sets her password;
she signs in and records her first day. All in a real browser."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from diary.entries.models import DiaryEntry
from diary.trial.models import Enrollment
from tests.factories import PASSWORD, CoordinatorFactory, PhysicianFactory, make_arm

# live_server serves from another thread: the tests' rows must be committed.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TZ = "America/Chicago"


def test_coordinator_enrolls_and_the_invited_patient_records_her_first_day(
    browser, page, expect, live_server, settings, artifacts
):
    settings.SITE_ROOT = live_server.url  # the invitation's links point at this server
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="double", code="A")
    protocol = arm.protocol
    make_arm([("baseline", 14), ("placebo", 84)], code="B", protocol=protocol)
    coordinator = CoordinatorFactory()
    physician = PhysicianFactory(username="dr-lee")
    today = timezone.now().astimezone(ZoneInfo(TZ)).date()

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", coordinator.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/diary/enrollment/add/")
    page.fill("#id_study_id", "FM-501")
    page.fill("#id_email", "maria@example.org")
    page.fill("#id_first_name", "Maria")
    page.select_option("#id_physician", str(physician.pk))
    page.select_option("#id_protocol", str(protocol.pk))
    page.fill("#id_start_date", (today - dt.timedelta(days=1)).isoformat())
    page.fill("#id_timezone", TZ)
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("invitation to choose a password")
    # A blinded coordinator: the allocation is concealed from her.
    expect(page.locator(".messagelist")).to_contain_text(
        "FM-501 is enrolled; her arm is concealed."
    )
    enrollment = Enrollment.objects.get(study_id="FM-501")
    assert enrollment.randomization_number == 1

    (invitation,) = mail.outbox
    assert invitation.to == ["maria@example.org"]
    link = re.search(r"http\S+/accounts/invite/\S+/", invitation.body).group(0)

    patient_context = browser.new_context(viewport={"width": 390, "height": 844})
    patient = patient_context.new_page()
    try:
        patient.goto(link)
        expect(patient.get_by_role("heading", level=1)).to_have_text("Welcome to the Pain Diary")
        patient.fill("#id_new_password1", "maria-chooses-2026")
        patient.fill("#id_new_password2", "maria-chooses-2026")
        patient.get_by_role("button", name="Save my password and sign in").click()
        expect(patient).to_have_url(f"{live_server.url}/diary/")
        expect(patient.get_by_role("heading", level=1)).to_contain_text("Today,")
        for field, value in [("pain", 4), ("fatigue", 6), ("sleep_quality", 5)]:
            patient.click(f"label[for=id_{field}_{value}]")
        patient.click("label[for=id_vivid_dreams_1]")  # No
        patient.click("label[for=id_headache_1]")  # No
        patient.get_by_role("button", name="Save today's entry").click()
        expect(patient.get_by_role("status")).to_contain_text("saved")
        patient.screenshot(path=str(artifacts / "invited-patient-first-day.png"), full_page=True)

        # The link was for one use only.
        patient.goto(link)
        expect(patient.get_by_role("heading", level=1)).to_have_text(
            "This invitation no longer works"
        )
    finally:
        patient_context.close()

    entry = DiaryEntry.objects.get(enrollment=enrollment)
    assert (entry.date, entry.pain, entry.source) == (today, 4, "patient")
