"""Nobody changes an account that sees more than she does, and the admin never shows an
authenticator's secret nor deletes the records of sign-ins."""

import base64
from urllib.parse import quote

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from diary.audit.models import AuditAction, AuditEvent
from diary.people import accounts, twofactor
from diary.people.models import User
from diary.trial import invitations
from tests.factories import CoordinatorFactory, EnrollmentFactory, PhysicianFactory
from tests.people.test_accounts import account_form

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXP"


def with_app(user):
    TOTPDevice.objects.create(
        user=user, name="App", key=base64.b32decode(SECRET).hex(), confirmed=True
    )
    recovery = StaticDevice.objects.create(user=user, name="Recovery codes")
    StaticToken.objects.create(device=recovery, token="recovery42")
    return user


@pytest.fixture
def blinded():
    return CoordinatorFactory(username="blinded-coordinator")


@pytest.fixture
def statistician():
    return with_app(CoordinatorFactory(username="statistician", allocation_access=True))


@pytest.fixture
def superuser():
    return with_app(CoordinatorFactory(username="root", is_superuser=True))


def change_url(user, what="change"):
    return f"/admin/diary/user/{user.pk}/{what}/"


def send_links(client, *users):
    return client.post(
        "/admin/diary/user/",
        {"action": "send_password_links", "_selected_action": [user.pk for user in users]},
        follow=True,
    )


# The rule itself ------------------------------------------------------------------


def test_the_rule_is_that_the_editor_sees_at_least_as_much_as_the_account(
    blinded, statistician, superuser
):
    doctor = PhysicianFactory()
    assert accounts.may_change(blinded, doctor)
    assert accounts.may_change(blinded, CoordinatorFactory())
    assert not accounts.may_change(blinded, statistician)
    assert not accounts.may_change(blinded, superuser)
    assert accounts.may_change(statistician, blinded)
    assert accounts.may_change(statistician, CoordinatorFactory(allocation_access=True))
    assert not accounts.may_change(statistician, superuser)
    # A superuser without allocation access changes only the rights of one who has it.
    assert accounts.may_change(superuser, blinded)
    assert not accounts.may_change(superuser, statistician)
    assert accounts.rights_only(superuser, statistician)
    assert not accounts.rights_only(blinded, statistician)
    assert set(accounts.locked_fields(superuser, statistician)) >= {"email", "username"}
    assert "allocation_access" not in accounts.locked_fields(superuser, statistician)
    assert accounts.may_change(superuser, CoordinatorFactory(is_superuser=True))
    unblinded_root = CoordinatorFactory(is_superuser=True, allocation_access=True)
    assert accounts.may_change(unblinded_root, statistician)
    # An inactive account keeps its flag: reactivating it is a change too.
    dormant = CoordinatorFactory(allocation_access=True, is_active=False)
    assert not accounts.may_change(blinded, dormant)
    assert "allocation access" in accounts.account_change_problem(blinded, statistician)
    assert set(accounts.locked_fields(blinded, statistician)) >= {"email", "is_active"}


# A blinded coordinator and an account with allocation access ----------------------


def test_a_blinded_coordinator_cannot_change_the_email_of_an_account_with_allocation_access(
    client, blinded, statistician
):
    client.force_login(blinded)
    response = client.post(
        change_url(statistician),
        account_form(statistician, email="blinded@elsewhere.example", change_reason="New mail"),
    )
    assert response.status_code == 403
    statistician.refresh_from_db()
    assert statistician.email == "statistician@example.org"
    assert statistician.has_allocation_access and statistician.is_active
    assert not AuditEvent.objects.exists()

    # Her page is read only for the blinded coordinator, and says why.
    page = client.get(change_url(statistician)).content.decode()
    assert "has allocation access and sees more than you do" in page
    assert 'name="_save"' not in page and 'name="email"' not in page
    assert "Remove second factor" not in page and "second-factor/" not in page


def test_a_blinded_coordinator_cannot_send_a_password_link_to_an_account_with_allocation_access(
    client, mailoutbox, blinded, statistician
):
    patient = EnrollmentFactory().patient
    client.force_login(blinded)
    response = send_links(client, statistician, patient)
    page = response.content.decode()
    assert "No link sent: statistician has allocation access" in page
    assert "A link to choose a password went to 1 account" in page
    assert [mail.to for mail in mailoutbox] == [[patient.email]]

    # The study's own functions refuse it too, whatever calls them.
    with pytest.raises(PermissionDenied):
        invitations.send_password_link(statistician, by=blinded)
    invited = CoordinatorFactory(allocation_access=True)
    invited.set_unusable_password()
    invited.save()
    with pytest.raises(PermissionDenied):
        invitations.send_invitation(invited, by=blinded)
    with pytest.raises(PermissionDenied):
        invitations.send_password_link(invited, by=blinded)
    assert len(mailoutbox) == 1
    sent = AuditEvent.objects.filter(
        action__in=[AuditAction.PASSWORD_LINK_SENT, AuditAction.INVITATION_SENT]
    )
    assert [event.user for event in sent] == [patient]


def test_a_blinded_coordinator_cannot_remove_the_second_factor_of_an_account_with_allocation_access(
    client, blinded, statistician
):
    client.force_login(blinded)
    url = change_url(statistician, "second-factor")
    response = client.get(url)
    assert response.status_code == 403
    assert "sees more than you do" in response.content.decode()
    response = client.post(url, {"reason": "Lost her phone"})
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=statistician, confirmed=True).exists()
    assert StaticDevice.objects.filter(user=statistician).exists()
    with pytest.raises(PermissionDenied):
        twofactor.remove_second_factor(statistician, by=blinded, reason="Lost her phone")
    assert twofactor.has_second_factor(statistician)
    assert not AuditEvent.objects.exists()


# A superuser's account ------------------------------------------------------------


def test_nobody_but_a_superuser_removes_a_superusers_second_factor(
    client, blinded, statistician, superuser
):
    for editor in (blinded, statistician):
        client.force_login(editor)
        response = client.post(change_url(superuser, "second-factor"), {"reason": "Lost it"})
        assert response.status_code == 403
        assert "is a superuser" in response.content.decode()
        page = client.get(change_url(superuser)).content.decode()
        assert "Remove second factor" not in page
    assert twofactor.has_second_factor(superuser)
    assert not AuditEvent.objects.exists()


def test_nobody_but_a_superuser_unlocks_or_changes_a_superuser(
    client, mailoutbox, blinded, statistician, superuser
):
    superuser.sign_in_locked_at = timezone.now()
    superuser.save()
    for editor in (blinded, statistician):
        client.force_login(editor)
        page = client.get(change_url(superuser)).content.decode()
        assert "is a superuser" in page and "Unlock sign-in" not in page
        response = client.post(change_url(superuser, "unlock"), {"reason": "She called"})
        assert response.status_code == 403
        assert "is a superuser" in response.content.decode()
        response = client.post(
            change_url(superuser),
            account_form(superuser, email="mine@elsewhere.example", change_reason="Takeover"),
        )
        assert response.status_code == 403
        assert "No link sent: root is a superuser" in send_links(client, superuser).content.decode()
    superuser.refresh_from_db()
    assert superuser.sign_in_locked_at is not None
    assert superuser.email == "root@example.org"
    assert not mailoutbox and not AuditEvent.objects.exists()


# Who still may ---------------------------------------------------------------------


def test_a_superuser_with_allocation_access_changes_unlocks_and_resets_anyone(
    client, mailoutbox, statistician
):
    superuser = with_app(CoordinatorFactory(is_superuser=True, allocation_access=True))
    statistician.sign_in_locked_at = timezone.now()
    statistician.save()
    client.force_login(superuser)
    page = client.get(change_url(statistician)).content.decode()
    assert "Unlock sign-in" in page and "Remove second factor" in page
    response = client.post(
        change_url(statistician),
        account_form(statistician, email="stats@example.org", change_reason="New address"),
    )
    assert response.status_code == 302, response.content.decode()
    statistician.refresh_from_db()
    assert statistician.email == "stats@example.org"
    assert client.post(change_url(statistician, "unlock"), {"reason": "Called"}).status_code == 302
    response = client.post(change_url(statistician, "second-factor"), {"reason": "New phone"})
    assert response.status_code == 302
    assert not twofactor.has_second_factor(statistician)
    assert "went to 1 account" in send_links(client, statistician).content.decode()
    assert [mail.to for mail in mailoutbox] == [["stats@example.org"]]
    other = CoordinatorFactory(is_superuser=True)
    response = client.post(
        change_url(other), account_form(other, first_name="Ada", change_reason="Her name")
    )
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.first_name == "Ada"


def test_a_blinded_superuser_revokes_allocation_access_but_cannot_take_the_account_over(
    client, mailoutbox, statistician, superuser
):
    statistician.sign_in_locked_at = timezone.now()
    statistician.save()
    client.force_login(superuser)
    page = client.get(change_url(statistician)).content.decode()
    assert "Only her rights can change here" in page
    assert "Unlock sign-in" not in page and "Remove second factor" not in page
    # Her e-mail stays (a read-only field), whatever the form says.
    response = client.post(
        change_url(statistician),
        account_form(statistician, email="root@example.org", change_reason="Take over"),
    )
    statistician.refresh_from_db()
    assert statistician.email != "root@example.org"
    for what in ("unlock", "second-factor"):
        response = client.post(change_url(statistician, what), {"reason": "Lost phone"})
        assert response.status_code == 403, what
    assert twofactor.has_second_factor(statistician)
    assert statistician.sign_in_locked_at is not None
    assert "No link sent" in send_links(client, statistician).content.decode()
    assert mailoutbox == []
    # Revoking the access itself is hers to do, with a reason.
    form = account_form(statistician, allocation_access=False, change_reason="Left the study")
    response = client.post(change_url(statistician), form)
    assert response.status_code == 302, response.content.decode()
    statistician.refresh_from_db()
    assert not statistician.allocation_access


def test_a_coordinator_with_allocation_access_changes_a_blinded_coordinator(
    client, mailoutbox, blinded, statistician
):
    with_app(blinded)
    client.force_login(statistician)
    response = client.post(
        change_url(blinded),
        account_form(blinded, email="blinded@example.org", change_reason="New address"),
    )
    assert response.status_code == 302, response.content.decode()
    blinded.refresh_from_db()
    assert blinded.email == "blinded@example.org"
    assert "went to 1 account" in send_links(client, blinded).content.decode()
    assert len(mailoutbox) == 1
    response = client.post(change_url(blinded, "second-factor"), {"reason": "Lost her phone"})
    assert response.status_code == 302
    assert not twofactor.has_second_factor(blinded)
    # But she still grants no allocation access: that stays a superuser's.
    client.post(
        change_url(blinded),
        account_form(blinded, allocation_access="on", change_reason="Helps me"),
    )
    blinded.refresh_from_db()
    assert not blinded.allocation_access


def test_a_blinded_coordinator_still_changes_accounts_that_see_no_more_than_she_does(
    client, mailoutbox, blinded
):
    doctor = with_app(PhysicianFactory())
    client.force_login(blinded)
    response = client.post(
        change_url(doctor),
        account_form(doctor, email="dr@example.org", change_reason="New address"),
    )
    assert response.status_code == 302, response.content.decode()
    assert "went to 1 account" in send_links(client, doctor).content.decode()
    assert client.post(change_url(doctor, "second-factor"), {"reason": "Lost"}).status_code == 302
    assert not twofactor.has_second_factor(doctor)


# Second factors in the admin ------------------------------------------------------


def secrets_of(device: TOTPDevice) -> list[str]:
    key = device.bin_key
    b32 = base64.b32encode(key).decode()
    return [
        device.key,
        device.key.upper(),
        b32,
        b32.rstrip("="),
        quote(b32.rstrip("=")),
        "otpauth://",
        "otpauth%3A",
    ]


def test_the_second_factor_pages_never_show_a_key_or_a_code(client, superuser):
    doctor = with_app(PhysicianFactory())
    device = TOTPDevice.objects.get(user=doctor)
    recovery = StaticDevice.objects.get(user=doctor)
    client.force_login(superuser)
    pages = [
        "/admin/otp_totp/totpdevice/",
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        "/admin/otp_static/staticdevice/",
        f"/admin/otp_static/staticdevice/{recovery.pk}/change/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert doctor.username in page
        for secret in secrets_of(device):
            assert secret not in page, (url, secret)
        assert "recovery42" not in page and "qrcode" not in page.lower()
    # The owner, name and dates are listed; nothing to add, change or delete.
    listing = client.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "App" in listing and "/admin/otp_totp/totpdevice/add/" not in listing
    assert 'name="action"' not in listing
    for url in (
        f"/admin/otp_totp/totpdevice/{device.pk}/config/",
        f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/",
    ):
        assert client.get(url).status_code in (302, 404), url


def test_nobody_adds_changes_or_deletes_a_second_factor_in_the_admin(client, superuser):
    doctor = PhysicianFactory()
    device = TOTPDevice.objects.create(user=doctor, name="Her app", confirmed=True)
    client.force_login(superuser)
    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    response = client.post(
        "/admin/otp_totp/totpdevice/add/",
        {"user": superuser.pk, "name": "Mine now", "key": "00" * 20, "confirmed": "on"},
    )
    assert response.status_code == 403
    response = client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        {"user": superuser.pk, "name": "Mine now", "confirmed": "on"},
    )
    assert response.status_code == 403
    assert client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/").status_code == 403
    response = client.post(
        "/admin/otp_totp/totpdevice/",
        {"action": "delete_selected", "_selected_action": [device.pk], "post": "yes"},
    )
    assert TOTPDevice.objects.filter(pk=device.pk, user=doctor, name="Her app").exists()
    assert TOTPDevice.objects.count() == 2 and superuser.totpdevice_set.count() == 1
    assert client.get("/admin/otp_static/staticdevice/add/").status_code == 403
    assert not AuditEvent.objects.exists()


def test_a_coordinator_cannot_open_the_second_factor_pages(client, blinded, statistician):
    for editor in (blinded, statistician):
        client.force_login(editor)
        assert client.get("/admin/otp_totp/totpdevice/").status_code == 403
        assert client.get("/admin/axes/accessattempt/").status_code == 403


# Sign-in records ------------------------------------------------------------------


def sign_in_records(username="patient-x"):
    common = {
        "user_agent": "Firefox",
        "ip_address": "192.0.2.1",
        "username": username,
        "http_accept": "text/html",
        "path_info": "/accounts/login/",
    }
    return {
        "accessattempt": AccessAttempt.objects.create(
            **common, get_data="", post_data="", failures_since_start=5
        ),
        "accesslog": AccessLog.objects.create(**common),
        "accessfailurelog": AccessFailureLog.objects.create(**common, locked_out=True),
    }


def test_sign_in_records_are_listed_read_only_and_never_deleted(client, superuser):
    records = sign_in_records()
    client.force_login(superuser)
    for name, record in records.items():
        base = f"/admin/axes/{name}/"
        listing = client.get(base)
        assert listing.status_code == 200, name
        page = listing.content.decode()
        assert "patient-x" in page
        assert 'name="action"' not in page  # no "delete selected", no "clean up"
        response = client.get(f"{base}{record.pk}/change/")
        assert response.status_code == 200 and 'name="_save"' not in response.content.decode()
        assert client.post(f"{base}{record.pk}/change/", {"username": "x"}).status_code == 403
        assert client.get(f"{base}{record.pk}/delete/").status_code == 403
        assert client.post(f"{base}{record.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.get(f"{base}add/").status_code == 403
        for action in ("delete_selected", "cleanup_expired_attempts"):
            client.post(base, {"action": action, "_selected_action": [record.pk], "post": "yes"})
        assert type(record).objects.filter(pk=record.pk, username="patient-x").exists(), name


def test_unlocking_refuses_an_account_that_sees_more_at_every_door():
    from diary.people import signin
    from diary.people.accounts import AccountOutOfReach

    blinded = CoordinatorFactory(is_staff=True)
    statistician = CoordinatorFactory(is_staff=True, allocation_access=True)
    User.objects.filter(pk=statistician.pk).update(sign_in_locked_at=timezone.now())
    statistician.refresh_from_db()
    with pytest.raises(AccountOutOfReach):
        signin.unlock(statistician, by=blinded, reason="She called")
    statistician.refresh_from_db()
    assert statistician.sign_in_locked_at is not None
