"""Sign-in protection: lockouts, rationed reset e-mails and idle staff sessions."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, CoordinatorFactory, EnrollmentFactory, PhysicianFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def sign_in(client, username, password, address="10.0.0.1", url="/accounts/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


def test_five_wrong_passwords_lock_that_name_from_that_address_for_15_minutes(client, frozen_clock):
    patient = EnrollmentFactory().patient
    for _ in range(4):
        assert sign_in(client, patient.username, "wrong").status_code == 200
    assert sign_in(client, patient.username, "wrong").status_code == 429  # the fifth
    response = sign_in(client, patient.username, PASSWORD)
    assert response.status_code == 429
    assert "Please wait 15 minutes and try again." in response.content.decode()
    # Another account from the same address, and the same account from elsewhere, are fine.
    other = EnrollmentFactory().patient
    assert signed_in(sign_in(client, other.username, PASSWORD))
    client.logout()
    assert signed_in(sign_in(client, patient.username, PASSWORD, address="10.9.9.9"))
    client.logout()
    frozen_clock.shift(dt.timedelta(minutes=14))
    assert sign_in(client, patient.username, PASSWORD).status_code == 429
    frozen_clock.shift(dt.timedelta(minutes=2))
    assert signed_in(sign_in(client, patient.username, PASSWORD))


def test_the_admin_sign_in_is_protected_too(client):
    coordinator = CoordinatorFactory()
    for _ in range(5):
        sign_in(client, coordinator.username, "wrong", url="/admin/login/")
    response = sign_in(client, coordinator.username, PASSWORD, url="/admin/login/")
    assert response.status_code == 429


def test_twenty_failures_from_anywhere_lock_the_account_until_a_coordinator_unlocks_it(
    client, frozen_clock
):
    patient = EnrollmentFactory().patient
    for n in range(20):
        sign_in(client, patient.username, "wrong", address=f"10.0.{n // 5}.1")
        frozen_clock.shift(dt.timedelta(minutes=1))
    patient.refresh_from_db()
    assert patient.sign_in_locked_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN_LOCKED, user=patient).exists()
    frozen_clock.shift(dt.timedelta(days=2))
    response = sign_in(client, patient.username, PASSWORD, address="192.0.2.7")
    assert response.status_code == 429
    assert "Your study coordinator can unlock it" in response.content.decode()

    coordinator = CoordinatorFactory()
    client.force_login(coordinator)
    page = client.get(f"/admin/diary/user/{patient.pk}/change/").content.decode()
    assert "Unlock sign-in" in page
    url = f"/admin/diary/user/{patient.pk}/unlock/"
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "She called; it was her"}).status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.SIGN_IN_UNLOCKED)
    assert (event.actor, event.user, event.reason) == (
        coordinator,
        patient,
        "She called; it was her",
    )
    client.logout()
    assert signed_in(sign_in(client, patient.username, PASSWORD, address="192.0.2.7"))


def test_a_successful_sign_in_starts_the_count_again(client):
    patient = EnrollmentFactory().patient
    for _ in range(3):
        for n in range(4):
            sign_in(client, patient.username, "wrong", address=f"10.1.{n}.1")
        assert signed_in(sign_in(client, patient.username, PASSWORD, address="10.2.0.1"))
        client.logout()
    patient.refresh_from_db()
    assert patient.sign_in_locked_at is None


def test_password_reset_e_mails_are_limited_to_three_an_hour(client, frozen_clock):
    patient = EnrollmentFactory().patient
    for _ in range(5):
        response = client.post("/accounts/password_reset/", {"email": patient.email})
        assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 3
    frozen_clock.shift(dt.timedelta(minutes=61))
    client.post("/accounts/password_reset/", {"email": patient.email})
    assert len(mail.outbox) == 4


def test_staff_sessions_end_after_30_idle_minutes_patients_after_14_days(client, frozen_clock):
    doctor = PhysicianFactory()
    assert signed_in(sign_in(client, doctor.username, PASSWORD))
    frozen_clock.shift(dt.timedelta(minutes=29))
    assert client.get("/physician/").status_code == 200  # active: the clock restarts
    frozen_clock.shift(dt.timedelta(minutes=29))
    assert client.get("/physician/").status_code == 200
    frozen_clock.shift(dt.timedelta(minutes=31))
    assert client.get("/physician/")["Location"].startswith("/accounts/login/")

    client.logout()
    patient = EnrollmentFactory().patient
    assert signed_in(sign_in(client, patient.username, PASSWORD))
    frozen_clock.shift(dt.timedelta(days=13))
    assert client.get("/diary/").status_code == 200
    frozen_clock.shift(dt.timedelta(days=2))
    assert client.get("/diary/")["Location"].startswith("/accounts/login/")
    assert timezone.now() > NOW
