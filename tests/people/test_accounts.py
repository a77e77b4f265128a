"""Sign-in, sign-out, password reset by e-mail, and who may change whose rights."""

import re

import pytest

from diary.audit.models import AuditAction, AuditEvent
from diary.people.models import User
from tests.factories import PASSWORD, CoordinatorFactory, EnrollmentFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def test_patient_signs_in_and_lands_on_her_diary(client):
    enrollment = EnrollmentFactory()
    response = client.post(
        "/accounts/login/",
        {"username": enrollment.patient.username, "password": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/diary/"
    assert "Your average pain over the last 24 hours" in response.content.decode()


def test_physician_signs_in_and_lands_on_her_patient_list(client):
    physician = PhysicianFactory()
    response = client.post(
        "/accounts/login/", {"username": physician.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/physician/"


def test_wrong_password_says_so_and_signs_nobody_in(client):
    enrollment = EnrollmentFactory()
    response = client.post(
        "/accounts/login/", {"username": enrollment.patient.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/diary/").status_code == 302


def test_sign_out_ends_the_session(client):
    enrollment = EnrollmentFactory()
    client.force_login(enrollment.patient)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/diary/")["Location"].startswith("/accounts/login/")


def test_password_reset_by_email_sets_a_new_password_once(client, mailoutbox):
    enrollment = EnrollmentFactory()
    patient = enrollment.patient
    response = client.post("/accounts/password_reset/", {"email": patient.email}, follow=True)
    assert "Check your e-mail" in response.content.decode()
    (mail,) = mailoutbox
    assert mail.to == [patient.email]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.body).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(
        form_url,
        {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    assert response["Location"] == "/accounts/reset/done/"
    patient.refresh_from_db()
    assert patient.check_password("a-new-long-passphrase")
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).content.decode()


# Rights, changed in the admin --------------------------------------------------------


def account_form(user, **values):
    """The admin's change form of `user` as it stands, with `values` changed."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "role": user.role,
        "language": user.language,
        "change_reason": "",
    }
    for flag in ("is_active", "is_staff", "is_superuser", "allocation_access"):
        if getattr(user, flag):
            data[flag] = "on"
    data.update(values)
    return {key: value for key, value in data.items() if value is not False}


def test_a_role_change_needs_a_reason_and_is_an_audit_event(client):
    coordinator = CoordinatorFactory()
    doctor = PhysicianFactory(username="physician1")
    enrollment = EnrollmentFactory(physician=doctor)
    client.force_login(coordinator)
    url = f"/admin/diary/user/{doctor.pk}/change/"
    response = client.post(url, account_form(doctor, role="coordinator"))
    assert response.status_code == 200
    assert "Say why role change(s)" in response.content.decode()
    doctor.refresh_from_db()
    assert doctor.role == "physician" and not AuditEvent.objects.exists()

    response = client.post(
        url, account_form(doctor, role="coordinator", change_reason="Joins the study office")
    )
    assert response.status_code == 302, response.content.decode()
    doctor.refresh_from_db()
    assert (doctor.role, doctor.is_staff) == ("coordinator", True)
    assert not doctor.has_allocation_access  # still blinded
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CHANGED)
    assert (event.actor, event.user, event.reason) == (
        coordinator,
        doctor,
        "Joins the study office",
    )
    assert event.details["role"] == "physician → coordinator"
    assert event.details["is_staff"] == "False → True"
    record = doctor.history.first()
    assert (record.history_user, record.history_change_reason) == (
        coordinator,
        "Joins the study office",
    )
    # It shows in the study's audit trail and in her patients' trails.
    assert "Joins the study office" in client.get("/admin/diary/auditevent/").content.decode()
    trail = client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit/").content.decode()
    assert "Account physician1" in trail and "Joins the study office" in trail


def test_nobody_changes_their_own_role_or_rights(client):
    for me in (CoordinatorFactory(), CoordinatorFactory(is_superuser=True)):
        client.force_login(me)
        response = client.post(
            f"/admin/diary/user/{me.pk}/change/",
            account_form(
                me,
                role="coordinator",
                is_superuser="on",
                allocation_access="on",
                first_name="Me",
                change_reason="Promoting myself",
            ),
        )
        assert response.status_code == 302, response.content.decode()
        was_superuser = me.is_superuser
        me.refresh_from_db()
        assert me.first_name == "Me"  # her own name she may change
        assert me.is_superuser is was_superuser and not me.allocation_access
    assert not AuditEvent.objects.exists()


def test_only_a_superuser_grants_allocation_access_and_only_to_staff(client):
    colleague = CoordinatorFactory(username="statistician")
    client.force_login(CoordinatorFactory())
    url = f"/admin/diary/user/{colleague.pk}/change/"
    client.post(url, account_form(colleague, allocation_access="on", change_reason="DSMB"))
    client.post(url, account_form(colleague, is_superuser="on", change_reason="DSMB"))
    colleague.refresh_from_db()
    assert not colleague.allocation_access and not colleague.is_superuser

    superuser = CoordinatorFactory(is_superuser=True)
    client.force_login(superuser)
    response = client.post(url, account_form(colleague, allocation_access="on"))
    assert "Say why allocation_access change(s)" in response.content.decode()
    response = client.post(
        url, account_form(colleague, allocation_access="on", change_reason="Study statistician")
    )
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.has_allocation_access
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CHANGED)
    assert (event.actor, event.details["allocation_access"]) == (superuser, "False → True")

    doctor = PhysicianFactory()
    response = client.post(
        f"/admin/diary/user/{doctor.pk}/change/",
        account_form(doctor, allocation_access="on", change_reason="Pharmacist"),
    )
    assert "Allocation access is for staff accounts only" in response.content.decode()
    doctor.refresh_from_db()
    assert not doctor.allocation_access


def test_staff_never_set_another_persons_password(client):
    coordinator = CoordinatorFactory(is_superuser=True)
    patient = EnrollmentFactory().patient
    client.force_login(coordinator)
    url = f"/admin/diary/user/{patient.pk}/password/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"password1": "Hijack-2026-x", "password2": "Hijack-2026-x"})
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.check_password(PASSWORD)
    page = client.get(f"/admin/diary/user/{patient.pk}/change/").content.decode()
    assert "password/" not in page and "Send a reset link" in page
    # Her own password she changes on the usual page.
    assert client.get(f"/admin/diary/user/{coordinator.pk}/password/")["Location"] == (
        "/accounts/password_change/"
    )


def test_staff_send_a_link_instead(client, mailoutbox):
    coordinator = CoordinatorFactory()
    patient = EnrollmentFactory().patient
    client.force_login(coordinator)
    response = client.post(
        "/admin/diary/user/",
        {"action": "send_password_links", "_selected_action": [patient.pk]},
        follow=True,
    )
    assert "A link to choose a password went to 1 account" in response.content.decode()
    (mail,) = mailoutbox
    assert mail.to == [patient.email] and "/accounts/reset/" in mail.body
    event = AuditEvent.objects.get(action=AuditAction.PASSWORD_LINK_SENT)
    assert (event.actor, event.user) == (coordinator, patient)


def test_a_new_account_has_no_password_and_is_invited(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(CoordinatorFactory())
    data = {
        "username": "dr-new",
        "email": "dr-new@example.org",
        "role": "physician",
        "language": "en",
        "send_invitation": "on",
    }
    response = client.post("/admin/diary/user/add/", data)
    assert "Say why this staff or physician account is created" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/diary/user/add/", {**data, "change_reason": "New site investigator"}
        )
    assert response.status_code == 302, response.content.decode()
    doctor = User.objects.get(username="dr-new")
    assert not doctor.has_usable_password()
    (mail,) = mailoutbox
    assert "/accounts/invite/" in mail.body
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CHANGED)
    assert (event.user, event.reason, event.details["role"]) == (
        doctor,
        "New site investigator",
        "None → physician",
    )


def test_signing_in_writes_no_account_history(client):
    doctor = PhysicianFactory(language="en")  # her language is already known
    before = doctor.history.count()
    client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert client.get("/physician/").status_code == 200  # signed in
    assert doctor.history.count() == before
    assert "password" not in {f.name for f in doctor.history.model._meta.fields}


def test_changing_an_accounts_email_needs_a_reason_and_is_audited(client):
    patient = EnrollmentFactory().patient
    client.force_login(CoordinatorFactory())
    url = f"/admin/diary/user/{patient.pk}/change/"
    response = client.post(url, account_form(patient, email="someone-else@example.org"))
    assert "Say why email change(s)" in response.content.decode()
    patient.refresh_from_db()
    assert patient.email != "someone-else@example.org"
    client.post(
        url,
        account_form(patient, email="new@example.org", change_reason="She gave a new address"),
    )
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CHANGED)
    assert event.details["email"].endswith("→ new@example.org")


def test_only_a_superuser_changes_a_superusers_account(client):
    superuser = CoordinatorFactory(is_superuser=True)
    client.force_login(CoordinatorFactory())
    client.post(
        f"/admin/diary/user/{superuser.pk}/change/",
        account_form(superuser, role="physician", is_active=False, change_reason="Coup"),
    )
    superuser.refresh_from_db()
    assert (superuser.role, superuser.is_active) == ("coordinator", True)
