"""The sign-off loop in a real browser: her physician signs a phase with password and
code; a coordinator corrects an entry with a reason and the signature shows invalidated;
she signs again; a query is raised, the patient answers it on her phone and corrects her
day; the query is closed; the last phase is signed; the enrollment is locked, and every
door refuses a change. The audit trail of the walk is saved for a human to read."""

import base64
import datetime as dt
import io
import time
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from diary.entries.models import DiaryEntry
from diary.queries.models import DataQuery
from diary.signoff.models import PhaseSignature
from tests.factories import (
    PASSWORD,
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
    make_arm,
)
from tests.people.test_two_factor import SECRET, code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TZ = "America/Chicago"


def staff_sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign(page, expect, live_server, study_id, order, token, label):
    page.goto(f"{live_server.url}/physician/patients/{study_id}/")
    page.locator(f"#signature-phase-{order} a").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Review:")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", token)
    page.check("input[name=meaning][value=reviewed]")
    page.get_by_role("button", name=f"Sign {label}").click()
    expect(page).to_have_url(f"{live_server.url}/physician/patients/{study_id}/#signatures")
    expect(page.locator(f"#signature-phase-{order} .signature-valid")).to_contain_text(
        "Signed by Ana Reyes,"
    )


def test_the_whole_sign_off_loop(browser, page, expect, live_server, settings, artifacts):
    settings.SITE_ROOT = live_server.url
    arm = make_arm([("baseline", 7), ("ldn", 14)], blinding="double", code="A")
    make_arm([("baseline", 7), ("placebo", 14)], code="B", protocol=arm.protocol)
    physician = PhysicianFactory(username="dr-reyes", first_name="Ana", last_name="Reyes")
    # A second factor that takes the codes of three steps in a row (each used once).
    TOTPDevice.objects.create(
        user=physician,
        name="App",
        key=base64.b32decode(SECRET).hex(),
        confirmed=True,
        tolerance=3,
    )
    coordinator = CoordinatorFactory(username="casey", first_name="Casey", last_name="Morgan")
    patient = PatientFactory(username="maria", email="maria@example.org", first_name="Maria")
    today = timezone.now().astimezone(ZoneInfo(TZ)).date()
    enrollment = EnrollmentFactory(
        study_id="FM-700",
        patient=patient,
        physician=physician,
        arm=arm,
        protocol=arm.protocol,
        timezone=TZ,
        status="completed",
        start_date=today - dt.timedelta(days=30),
    )
    for offset in range(21):
        day = enrollment.start_date + dt.timedelta(days=offset)
        treatment = offset >= 7
        EntryFactory(
            enrollment=enrollment,
            date=day,
            pain=6 if offset < 7 else 4,
            dose_taken=True if treatment else None,
            tolerability=80 if treatment else None,
        )
    VisitFactory(enrollment=enrollment, visit_date=enrollment.start_date, esr=28)
    now = time.time()
    tokens = [code(SECRET, now - 30), code(SECRET, now), code(SECRET, now + 30)]

    # 1. Her physician signs the baseline phase.
    staff_sign_in(page, live_server, physician)
    sign(page, expect, live_server, "FM-700", 1, tokens[0], "Baseline")
    page.screenshot(path=str(artifacts / "signoff-1-signed.png"), full_page=True)

    # 2. A coordinator corrects a baseline entry, with a reason.
    coordinator_context = browser.new_context(viewport={"width": 1200, "height": 900})
    admin = coordinator_context.new_page()
    entry = DiaryEntry.objects.get(enrollment=enrollment, date=enrollment.start_date)
    admin.goto(f"{live_server.url}/admin/login/")
    admin.fill("#id_username", coordinator.username)
    admin.fill("#id_password", PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.goto(f"{live_server.url}/admin/diary/diaryentry/{entry.pk}/change/")
    admin.fill("#id_pain", "7")
    admin.fill("#id_change_reason", "Paper back-up of day 1 says 7")
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")

    # 3. The signature shows invalidated; she signs again.
    page.goto(f"{live_server.url}/physician/patients/FM-700/")
    expect(page.locator("#signature-phase-1 .signature-changed")).to_have_text(
        "changed after signing: sign again"
    )
    expect(page.locator("#signature-phase-1 .signature-invalidated")).to_contain_text(
        "Paper back-up of day 1 says 7"
    )
    page.screenshot(path=str(artifacts / "signoff-2-invalidated.png"), full_page=True)
    sign(page, expect, live_server, "FM-700", 1, tokens[1], "Baseline")

    # 4. A query on a day of the blinded treatment phase.
    queried = enrollment.start_date + dt.timedelta(days=10)
    page.goto(f"{live_server.url}/physician/patients/FM-700/")
    page.locator(f'a[aria-label="Raise a query on {queried.isoformat()}"]').click()
    expect(page.locator(".alert-warning")).to_contain_text("Never mention treatment")
    page.fill("#id_text", "Your pain on this day looks lower than the days around it. Right?")
    page.get_by_role("button", name="Raise the query").click()
    expect(page.locator(".query-status")).to_contain_text("Open")
    query = DataQuery.objects.get()

    # 5. The patient answers on her phone and corrects her day, long after its window.
    phone_context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = phone_context.new_page()
    phone.goto(f"{live_server.url}/accounts/login/")
    phone.fill("#id_username", patient.username)
    phone.fill("#id_password", PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.locator(".questions-waiting")).to_have_text("1 question from your study team")
    phone.locator(".questions-waiting a").click()
    phone.locator("a", has_text=queried.strftime("%-d")).first.click()
    expect(phone.locator(".query-text")).to_contain_text("looks lower")
    phone.fill("#id_answer", "I had a good day, but I pressed 4 instead of 6.")
    phone.get_by_role("button", name="Send my answer").click()
    expect(phone.get_by_role("alert").or_(phone.locator(".alert-success"))).to_contain_text(
        "your answer was sent"
    )
    phone.click("label[for=id_pain_6]")
    phone.get_by_role("button", name="Save my corrected answers").click()
    expect(phone.locator(".alert-success")).to_contain_text("corrected")
    phone.screenshot(path=str(artifacts / "signoff-3-patient-answered.png"), full_page=True)
    corrected = DiaryEntry.objects.get(enrollment=enrollment, date=queried)
    assert corrected.pain == 6 and corrected.corrected_after_query
    assert corrected.history.first().history_change_reason == f"answer to query #{query.pk}"

    # 6. Her physician closes the query and signs the treatment phase.
    page.goto(f"{live_server.url}/physician/queries/{query.pk}/")
    expect(page.locator(".query-answer")).to_contain_text("pressed 4 instead of 6")
    page.fill("#id_note", "Corrected by the patient.")
    page.get_by_role("button", name="Close the query").click()
    expect(page.locator(".query-status")).to_contain_text("Closed")
    sign(page, expect, live_server, "FM-700", 2, tokens[2], "Treatment")
    assert [s.status for s in PhaseSignature.objects.order_by("signed_at")] == [
        "invalidated",
        "valid",
        "valid",
    ]

    # 7. The coordinator locks the enrollment (nothing is missing: no override).
    admin.goto(f"{live_server.url}/admin/diary/enrollment/")
    admin.locator(f'input[name=_selected_action][value="{enrollment.pk}"]').check()
    admin.select_option("select[name=action]", "lock_for_analysis")
    admin.get_by_role("button", name="Go").click()
    expect(admin.locator(".messagelist")).to_contain_text("Locked for analysis: FM-700.")

    # 8. Every door refuses, saying who locked it and since when.
    phone.goto(f"{live_server.url}/diary/questions/{query.pk}/")
    phone.goto(f"{live_server.url}/diary/{queried.isoformat()}/")
    expect(phone.locator("body")).to_contain_text("Your diary is locked for analysis")
    admin.goto(f"{live_server.url}/admin/diary/diaryentry/{entry.pk}/change/")
    expect(admin.locator(".messagelist")).to_contain_text("Read-only: FM-700 is locked by Casey")
    assert admin.locator("input[name=_save]").count() == 0
    page.goto(f"{live_server.url}/physician/patients/FM-700/visits/new/")
    page.fill("#id_visit_date", (enrollment.start_date + dt.timedelta(days=20)).isoformat())
    page.fill("#id_esr", "30")
    page.get_by_role("button", name="Record the visit").click()
    expect(page.locator("#visit-form")).to_contain_text("FM-700 is locked by Casey Morgan")
    page.goto(f"{live_server.url}/physician/patients/FM-700/queries/new/?date={queried}")
    page.fill("#id_text", "One more question")
    page.get_by_role("button", name="Raise the query").click()
    expect(page.locator("form.col-lg-8")).to_contain_text("is locked by Casey Morgan")
    page.goto(f"{live_server.url}/physician/patients/FM-700/phases/3/review/")
    page.goto(f"{live_server.url}/physician/patients/FM-700/phases/1/review/")
    expect(page.locator(".signature-cannot")).to_contain_text("is locked by Casey Morgan")
    page.goto(f"{live_server.url}/physician/patients/FM-700/")
    expect(page.locator(".lock-state")).to_contain_text("Locked")
    page.screenshot(path=str(artifacts / "signoff-4-locked.png"), full_page=True)
    import_file = artifacts / "signoff-locked-import.csv"
    import_file.write_text(
        "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache\n"
        f"FM-700,{enrollment.start_date + dt.timedelta(days=3)},1,1,1,no,no\n"
    )
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_entries", str(import_file), stdout=io.StringIO(), stderr=err)
    assert "FM-700 is locked by Casey Morgan" in err.getvalue()

    # 9. The audit trail of the walk, on its page and as CSV.
    admin.goto(f"{live_server.url}/admin/diary/enrollment/{enrollment.pk}/audit/")
    for action in (
        "phase review signed",
        "phase review signature invalidated",
        "query raised",
        "query answered",
        "query closed",
        "enrollment locked",
    ):
        expect(admin.locator("body")).to_contain_text(action, ignore_case=True)
    admin.screenshot(path=str(artifacts / "signoff-5-audit-trail.png"), full_page=True)
    response = admin.request.get(
        f"{live_server.url}/admin/diary/enrollment/{enrollment.pk}/audit.csv"
    )
    assert response.ok
    (artifacts / "signoff-audit-trail.csv").write_text(response.text())
    out = io.StringIO()
    call_command("export_signatures", stdout=out, stderr=io.StringIO())
    (artifacts / "signoff-signatures.csv").write_text(out.getvalue())
    out = io.StringIO()
    call_command("export_queries", stdout=out, stderr=io.StringIO())
    (artifacts / "signoff-queries.csv").write_text(out.getvalue())
    coordinator_context.close()
    phone_context.close()
