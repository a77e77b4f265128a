"""The admin's actions on an enrollment and its records, as each reader meets them:
invitations sent again, enrolment refused after the form was checked, the arm as the
reader may see it, telling the patient her arm, the audit trail and the access log.

Every test signs its staff in through the sign-in page and the second factor (a TOTP
code of the frozen clock), then works through HTTP round trips with the test client,
as a blinded coordinator, a coordinator with allocation access (the unblinded
statistician) or a physician."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from diary.admin import security
from diary.audit.models import AuditAction, AuditEvent, DataAccess
from diary.people.models import User
from diary.trial.models import Enrollment, RandomizationSlot
from tests.factories import (
    PASSWORD,
    CoordinatorFactory,
    EnrollmentFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
)
from tests.site.test_admin import enrollment_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=LA)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def second_factor_on(settings):
    settings.STAFF_2FA = True


def signed_in(user: User) -> Client:
    """A browser of `user`, signed in with her password and her authenticator's code."""
    device = TOTPDevice.objects.create(user=user, name="App", confirmed=True)
    browser = Client()
    response = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()
    assert browser.get("/physician/")["Location"].startswith("/accounts/two-factor/")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    response = browser.post("/accounts/two-factor/", {"otp_token": f"{totp.token():06d}"})
    assert response.status_code == 302, response.content.decode()
    assert not response["Location"].startswith("/accounts/two-factor/")
    return browser


@pytest.fixture
def coordinator():
    return CoordinatorFactory(username="coordinator-blind")


@pytest.fixture
def statistician():
    """A coordinator with allocation access (the unblinded statistician)."""
    return CoordinatorFactory(username="statistician", allocation_access=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def invited(**patient) -> Enrollment:
    """An enrollment whose patient has not chosen a password yet."""
    enrollment = EnrollmentFactory(patient=PatientFactory(**patient))
    enrollment.patient.set_unusable_password()
    enrollment.patient.save()
    return enrollment


def events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# Resending the invitation -----------------------------------------------------------


def test_resending_invitations_sends_those_it_can_and_says_why_not_for_each_other(
    coordinator,
):
    waiting = invited()
    chose_a_password = EnrollmentFactory()
    inactive = invited(is_active=False)
    no_address = invited(email="")
    browser = signed_in(coordinator)
    chosen = [waiting, chose_a_password, inactive, no_address]
    response = browser.post(
        "/admin/diary/enrollment/",
        {"action": "resend_invitations", "_selected_action": [e.pk for e in chosen]},
        follow=True,
    )
    assert response.status_code == 200
    said = messages_of(response)
    assert "Invitation sent for 1 enrollment(s)." in said
    assert (
        f"{chose_a_password.study_id}: the patient has already chosen a password; she can "
        "use “Forgot your password?” on the sign-in page."
    ) in said
    assert (
        f"{inactive.study_id}: {inactive.patient.username}'s account is inactive; "
        "activate it first."
    ) in said
    assert (
        f"{no_address.study_id}: {no_address.patient.username} has no e-mail address; "
        "add one first."
    ) in said
    assert [message.to for message in mail.outbox] == [[waiting.patient.email]]
    (event,) = events(AuditAction.INVITATION_SENT)
    assert (event.actor, event.user, event.enrollment) == (coordinator, waiting.patient, waiting)


def test_an_invitation_to_an_account_that_sees_more_than_the_coordinator_is_refused(
    coordinator, statistician
):
    # A staff account with allocation access sees every arm: only staff who see as
    # much may send it a link to choose its password.
    enrollment = invited(is_staff=True, allocation_access=True)
    response = signed_in(coordinator).post(
        f"/admin/diary/enrollment/{enrollment.pk}/invite/", follow=True
    )
    assert response.redirect_chain[-1][0] == f"/admin/diary/enrollment/{enrollment.pk}/change/"
    (said,) = messages_of(response)
    assert said.startswith(
        f"{enrollment.study_id}: {enrollment.patient.username} has allocation access and "
        "sees more than you do"
    )
    assert mail.outbox == [] and events(AuditAction.INVITATION_SENT) == []

    response = signed_in(statistician).post(
        f"/admin/diary/enrollment/{enrollment.pk}/invite/", follow=True
    )
    assert messages_of(response) == ["Invitation sent for 1 enrollment(s)."]
    assert [message.to for message in mail.outbox] == [[enrollment.patient.email]]


def test_opening_the_invite_address_without_posting_sends_nothing(coordinator):
    enrollment = invited()
    response = signed_in(coordinator).get(f"/admin/diary/enrollment/{enrollment.pk}/invite/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/diary/enrollment/{enrollment.pk}/change/"
    assert mail.outbox == [] and events(AuditAction.INVITATION_SENT) == []


# Enrolling ----------------------------------------------------------------------------


def test_an_enrolment_refused_after_the_form_was_checked_saves_nothing_and_says_why(
    coordinator, django_capture_on_commit_callbacks
):
    # The new account's user name is her address in lower case: someone else's already.
    PatientFactory(username="ann.patient@example.org", email="someone.else@example.org")
    protocol = builtin_arm().protocol
    browser = signed_in(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/admin/diary/enrollment/add/", enrollment_form(protocol), follow=True
        )
    assert response.redirect_chain == [("/admin/diary/enrollment/add/", 302)]
    assert messages_of(response) == ["A user with that username already exists."]
    assert not Enrollment.objects.filter(study_id="FM-100").exists()
    assert not User.objects.filter(email__iexact="ann.patient@example.org").exists()
    assert mail.outbox == [] and events(AuditAction.INVITATION_SENT) == []


def test_the_statistician_is_told_the_arm_and_sequence_and_sees_where_it_came_from(
    statistician, django_capture_on_commit_callbacks
):
    protocol = builtin_arm().protocol
    browser = signed_in(statistician)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/admin/diary/enrollment/add/", enrollment_form(protocol), follow=True
        )
    enrollment = Enrollment.objects.get(study_id="FM-100")
    code = enrollment.arm.code
    assert f"FM-100 was allocated to arm {code} (sequence 1)." in messages_of(response)
    page = browser.get(f"/admin/diary/enrollment/{enrollment.pk}/change/").content.decode()
    assert f"{code} (permuted blocks from the protocol&#x27;s seed, sequence 1)" in page


def test_an_allocation_from_the_randomization_list_is_shown_as_such(
    statistician, coordinator, django_capture_on_commit_callbacks
):
    protocol = builtin_arm().protocol
    RandomizationSlot.objects.create(protocol=protocol, sequence=1, arm=builtin_arm(code="B"))
    browser = signed_in(statistician)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/admin/diary/enrollment/add/", enrollment_form(protocol), follow=True
        )
    assert "FM-100 was allocated to arm B (sequence 1)." in messages_of(response)
    enrollment = Enrollment.objects.get(study_id="FM-100")
    page = browser.get(f"/admin/diary/enrollment/{enrollment.pk}/change/").content.decode()
    assert "B (randomization list, sequence 1)" in page
    # The blinded coordinator reads neither the arm nor where it came from.
    page = signed_in(coordinator).get(f"/admin/diary/enrollment/{enrollment.pk}/change/")
    text = page.content.decode()
    assert "Blinded (concealed allocation)" in text
    assert "randomization list, sequence" not in text


# Telling the patient her arm ------------------------------------------------------------


def tell(browser, enrollment, **fields):
    return browser.post(f"/admin/diary/enrollment/{enrollment.pk}/tell-patient/", fields)


def test_telling_a_patient_mid_treatment_needs_the_explicit_confirmation(statistician):
    enrollment = EnrollmentFactory(start_date=TODAY - dt.timedelta(days=40))
    end = enrollment.schedule.treatment_end
    browser = signed_in(statistician)
    page = browser.get(f"/admin/diary/enrollment/{enrollment.pk}/tell-patient/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"Her treatment window lasts until {end:%Y-%m-%d}" in text
    assert 'name="confirm_mid_treatment"' in text

    refused = tell(browser, enrollment, reason="She asked")
    assert refused.status_code == 400
    assert "is still in her treatment window" in refused.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.patient_unblinded_at is None
    assert events(AuditAction.PATIENT_TOLD) == []

    done = tell(browser, enrollment, reason="She asked", confirm_mid_treatment="on")
    assert done.status_code == 302
    assert done["Location"] == f"/admin/diary/enrollment/{enrollment.pk}/change/"
    landed = browser.get(done["Location"])
    assert f"{enrollment.study_id} now sees her arm and the names of her phases." in (
        messages_of(landed)
    )
    assert "Tell the patient</a>" not in landed.content.decode()
    enrollment.refresh_from_db()
    assert (enrollment.patient_unblinded_by, enrollment.patient_unblinding_reason) == (
        statistician,
        "She asked",
    )
    assert enrollment.history.first().history_change_reason == (
        "Patient told her arm mid-treatment: She asked"
    )
    (event,) = events(AuditAction.PATIENT_TOLD)
    assert (event.actor, event.enrollment, event.user, event.reason) == (
        statistician,
        enrollment,
        enrollment.patient,
        "She asked",
    )
    assert event.details == {"study_id": enrollment.study_id, "mid_treatment": True}


def test_a_patient_whose_treatment_ended_is_told_without_a_confirmation_and_only_once(
    statistician,
):
    enrollment = EnrollmentFactory(start_date=TODAY - dt.timedelta(days=130))
    browser = signed_in(statistician)
    text = browser.get(f"/admin/diary/enrollment/{enrollment.pk}/tell-patient/").content.decode()
    assert "Her treatment window lasts until" not in text
    assert 'name="confirm_mid_treatment"' not in text

    no_reason = tell(browser, enrollment, reason="  ")
    assert no_reason.status_code == 400
    assert events(AuditAction.PATIENT_TOLD) == []

    assert tell(browser, enrollment, reason="Study results letter").status_code == 302
    (event,) = events(AuditAction.PATIENT_TOLD)
    assert event.details["mid_treatment"] is False
    enrollment.refresh_from_db()
    assert enrollment.history.first().history_change_reason == (
        "Patient told her arm: Study results letter"
    )

    again = tell(browser, enrollment, reason="Once more")
    assert again.status_code == 400
    assert f"{enrollment.study_id} has already been told her arm." in again.content.decode()
    assert len(events(AuditAction.PATIENT_TOLD)) == 1


def test_a_blinded_coordinator_can_neither_open_nor_send_the_tell_the_patient_page(
    coordinator,
):
    enrollment = EnrollmentFactory(start_date=TODAY - dt.timedelta(days=130))
    browser = signed_in(coordinator)
    url = f"/admin/diary/enrollment/{enrollment.pk}/tell-patient/"
    assert browser.get(url).status_code == 403
    assert browser.post(url, {"reason": "She asked"}).status_code == 403
    assert "Tell the patient</a>" not in (
        browser.get(f"/admin/diary/enrollment/{enrollment.pk}/change/").content.decode()
    )
    enrollment.refresh_from_db()
    assert enrollment.patient_unblinded_at is None
    assert events(AuditAction.PATIENT_TOLD) == []


# Who may open an enrollment's pages --------------------------------------------------------


def test_an_enrollment_is_found_by_its_study_id(coordinator):
    enrollment = EnrollmentFactory(study_id="FM-042")
    response = signed_in(coordinator).get("/admin/diary/enrollment/study/FM-042/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/diary/enrollment/{enrollment.pk}/change/"


def test_staff_without_the_right_to_read_enrollments_find_none_of_their_pages(
    django_capture_on_commit_callbacks,
):
    # Staff status opens the admin, not the study's data: a physician given it reads
    # no enrollment there, not even by its study ID.
    enrollment = invited()
    doctor = PhysicianFactory(is_staff=True)
    browser = signed_in(doctor)
    for url in [
        f"/admin/diary/enrollment/study/{enrollment.study_id}/",
        f"/admin/diary/enrollment/{enrollment.pk}/audit/",
        f"/admin/diary/enrollment/{enrollment.pk}/audit.csv",
        f"/admin/diary/enrollment/{enrollment.pk}/invite/",
    ]:
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/admin/diary/enrollment/{enrollment.pk}/invite/").status_code == 404
    assert mail.outbox == []
    assert not DataAccess.objects.filter(study_id=enrollment.study_id).exists()


def test_a_physician_is_sent_to_the_admin_sign_in_from_every_enrollment_action():
    enrollment = invited()
    browser = signed_in(enrollment.physician)
    for method, url in [
        ("get", f"/admin/diary/enrollment/study/{enrollment.study_id}/"),
        ("get", f"/admin/diary/enrollment/{enrollment.pk}/audit/"),
        ("get", f"/admin/diary/enrollment/{enrollment.pk}/audit.csv"),
        ("post", f"/admin/diary/enrollment/{enrollment.pk}/invite/"),
        ("post", f"/admin/diary/enrollment/{enrollment.pk}/tell-patient/"),
        ("post", f"/admin/diary/enrollment/{enrollment.pk}/unblind/"),
    ]:
        response = getattr(browser, method)(url, {"reason": "Curious"} if method == "post" else {})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    assert mail.outbox == []
    enrollment.refresh_from_db()
    assert (enrollment.care_team_unblinded_at, enrollment.patient_unblinded_at) == (None, None)


# The audit trail and the access log -------------------------------------------------------


def test_the_audit_trail_csv_is_named_for_the_study_day_and_its_reading_is_logged(coordinator):
    enrollment = EnrollmentFactory(study_id="FM-007")
    response = signed_in(coordinator).get(f"/admin/diary/enrollment/{enrollment.pk}/audit.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="audit-FM-007-{TODAY.isoformat()}.csv"'
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["when", "who", "object", "action", "changes", "why"]
    assert [r.what for r in DataAccess.objects.filter(actor=coordinator)] == ["audit trail CSV"]


def an_old_unblinding(enrollment, by) -> AuditEvent:
    """An unblinding event as older versions wrote it: its details name the arm."""
    return AuditEvent.objects.create(
        action=AuditAction.UNBLINDED_CARE_TEAM,
        actor=by,
        enrollment=enrollment,
        protocol=enrollment.protocol,
        user=enrollment.patient,
        reason="Emergency",
        details={"study_id": enrollment.study_id, "arm": enrollment.arm.code},
    )


def test_the_audit_events_list_names_who_acted_and_on_which_account(coordinator, statistician):
    enrollment = EnrollmentFactory()
    an_old_unblinding(enrollment, statistician)
    AuditEvent.objects.create(
        action=AuditAction.ACCOUNT_CHANGED, actor_name="shell:root", reason="Joins the office"
    )
    page = signed_in(coordinator).get("/admin/diary/auditevent/")
    assert page.status_code == 200
    cells = page.content.decode()
    for shown in [
        '<td class="field-who">statistician</td>',
        f'<td class="field-account">{enrollment.patient.username}</td>',
        '<td class="field-who">shell:root</td>',
        '<td class="field-account">-</td>',  # no account: the admin's dash
    ]:
        assert shown in cells, shown


def test_an_audit_event_s_details_conceal_the_arm_from_a_blinded_reader(coordinator, statistician):
    enrollment = EnrollmentFactory(arm=builtin_arm(code="B"))
    event = an_old_unblinding(enrollment, statistician)
    url = f"/admin/diary/auditevent/{event.pk}/change/"
    blinded = signed_in(coordinator).get(url)
    assert blinded.status_code == 200
    assert f"arm: concealed; study_id: {enrollment.study_id}" in blinded.content.decode()
    unblinded = signed_in(statistician).get(url)
    assert f"arm: B; study_id: {enrollment.study_id}" in unblinded.content.decode()


def test_audit_events_and_access_records_are_never_added_changed_or_deleted(coordinator):
    enrollment = EnrollmentFactory()
    event = an_old_unblinding(enrollment, coordinator)
    browser = signed_in(coordinator)
    assert browser.get(f"/admin/diary/enrollment/{enrollment.pk}/audit/").status_code == 200
    record = DataAccess.objects.get(what="audit trail")
    for model, pk in (("auditevent", event.pk), ("dataaccess", record.pk)):
        base = f"/admin/diary/{model}/"
        assert browser.get(f"{base}add/").status_code == 403
        assert browser.post(f"{base}add/", {"reason": "x"}).status_code == 403
        assert browser.post(f"{base}{pk}/change/", {"reason": "x"}).status_code == 403
        assert browser.post(f"{base}{pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.reason == "Emergency"
    assert DataAccess.objects.filter(pk=record.pk).exists()
    listing = browser.get("/admin/diary/dataaccess/").content.decode()
    assert f'<td class="field-who">{coordinator.username}</td>' in listing
    assert enrollment.study_id in listing


# The second factors' and lockouts' admins ------------------------------------------------


def test_a_device_s_tokens_get_no_admin_page_of_their_own():
    # django-otp shows a device's recovery codes in its own admin; ours lists devices only.
    assert security._replacement(StaticToken) is None
    superuser = CoordinatorFactory(is_superuser=True)
    assert signed_in(superuser).get("/admin/otp_static/statictoken/").status_code == 404


def test_an_app_without_an_admin_module_is_passed_over_but_a_missing_library_is_not(
    monkeypatch,
):
    def no_admin(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(security, "import_module", no_admin)
    security._their_admins_loaded()  # every app "has no admin module": nothing to replace

    def broken_admin(name):
        raise ModuleNotFoundError("No module named 'qrcode'", name="qrcode")

    monkeypatch.setattr(security, "import_module", broken_admin)
    with pytest.raises(ModuleNotFoundError, match="qrcode"):
        security._their_admins_loaded()
