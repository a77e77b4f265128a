"""Staff sign in with a second factor (TOTP); patients never are asked for one."""

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from diary.audit.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, CoordinatorFactory, EnrollmentFactory, PhysicianFactory

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXP"
NOW = dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=dt.UTC)  # for the tests that take frozen_clock


@pytest.fixture(autouse=True)
def second_factor_on(settings):
    settings.STAFF_2FA = True


def code(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), written out independently of django-otp."""
    counter = int(time.time() if at is None else at) // 30
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def with_app(user, secret=SECRET):
    TOTPDevice.objects.create(
        user=user, name="App", key=base64.b32decode(secret).hex(), confirmed=True
    )
    return user


def sign_in(client, user):
    return client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})


STAFF_URLS = [
    "/",
    "/physician/",
    "/physician/cohort/",
    "/exports/",
    "/exports/?what=entries.csv",
    "/admin/",
    "/admin/diary/enrollment/",
    "/admin/diary/diaryentry/",
    "/admin/diary/user/",
    "/admin/diary/auditevent/",
    "/accounts/password_change/",
]


def test_a_coordinator_signs_in_with_password_then_code(client):
    coordinator = with_app(CoordinatorFactory())
    enrollment = EnrollmentFactory()
    response = sign_in(client, coordinator)
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response["Location"].startswith("/accounts/two-factor/")
    page = client.get(response["Location"]).content.decode()
    assert 'name="otp_token"' in page
    for url in [*STAFF_URLS, f"/physician/patients/{enrollment.study_id}/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/two-factor/?next="
        ), url
    response = client.post(
        "/accounts/two-factor/", {"otp_token": code(SECRET), "next": "/physician/"}
    )
    assert response["Location"] == "/physician/"
    assert client.get(f"/physician/patients/{enrollment.study_id}/").status_code == 200
    assert client.get("/admin/diary/enrollment/").status_code == 200


def test_every_staff_url_asks_for_the_code_first(client):
    enrollment = EnrollmentFactory()
    for user in (with_app(CoordinatorFactory()), with_app(enrollment.physician)):
        client.force_login(user)
        urls = [
            *STAFF_URLS,
            f"/physician/patients/{enrollment.study_id}/",
            f"/admin/diary/enrollment/{enrollment.pk}/change/",
            f"/admin/diary/enrollment/{enrollment.pk}/audit.csv",
        ]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, (user, url)
            assert response["Location"].startswith("/accounts/two-factor/"), (user, url)
        response = client.post("/exports/", {"what": "entries.csv", "reason": "x"})
        assert response["Location"].startswith("/accounts/two-factor/")


def test_patients_are_never_asked(client):
    patient = EnrollmentFactory().patient
    response = sign_in(client, patient)
    assert client.get(response["Location"], follow=True).redirect_chain[-1][0] == "/diary/"
    assert client.get("/diary/").status_code == 200


def test_a_wrong_or_replayed_code_is_refused(client):
    doctor = with_app(PhysicianFactory())
    sign_in(client, doctor)
    response = client.post("/accounts/two-factor/", {"otp_token": "000000"})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    now = code(SECRET)  # straight after one wrong code: no wait
    assert client.post("/accounts/two-factor/", {"otp_token": now}).status_code == 302
    client.logout()
    sign_in(client, doctor)
    assert client.post("/accounts/two-factor/", {"otp_token": now}).status_code == 400


def wrong(client, url="/accounts/two-factor/"):
    response = client.post(url, {"otp_token": "000000"})
    assert response.status_code == 400
    return response.content.decode()


def test_the_right_code_straight_after_wrong_ones_signs_her_in(client, frozen_clock):
    doctor = with_app(PhysicianFactory())
    sign_in(client, doctor)
    for _ in range(3):  # the free failures: at the same instant, no wait
        assert "Wait" not in wrong(client)
    response = client.post("/accounts/two-factor/", {"otp_token": code(SECRET)})
    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=doctor).throttling_failure_count == 0
    # The streak ended: the next sign-in has its free failures again.
    client.logout()
    frozen_clock.shift(30)  # the next code (a code is taken once)
    sign_in(client, doctor)
    assert "Wait" not in wrong(client)
    assert client.post("/accounts/two-factor/", {"otp_token": code(SECRET)}).status_code == 302


def test_after_repeated_wrong_codes_she_waits_and_is_told_how_long(client, frozen_clock):
    doctor = with_app(PhysicianFactory())
    sign_in(client, doctor)
    for _ in range(3):
        wrong(client)
    assert "Wait 1 second, then enter the code" in wrong(client)  # the 4th
    # The right code during the wait is refused with the wait, and does not count.
    response = client.post("/accounts/two-factor/", {"otp_token": code(SECRET)})
    assert response.status_code == 429 and response["Retry-After"] == "1"
    page = response.content.decode()
    assert "Too many wrong codes in a row. Wait 1 second" in page
    assert TOTPDevice.objects.get(user=doctor).throttling_failure_count == 4
    frozen_clock.shift(1)
    assert "Wait 2 seconds" in wrong(client)  # the 5th
    frozen_clock.shift(2)
    assert "Wait 4 seconds" in wrong(client)  # the 6th
    frozen_clock.shift(3)
    response = client.post("/accounts/two-factor/", {"otp_token": code(SECRET)})
    assert response.status_code == 429 and "Wait 1 second," in response.content.decode()
    assert client.get("/physician/").status_code == 302  # still not signed in
    frozen_clock.shift(1)  # the wait is over
    response = client.post(
        "/accounts/two-factor/", {"otp_token": code(SECRET), "next": "/physician/"}
    )
    assert response["Location"] == "/physician/"
    assert client.get("/physician/").status_code == 200


def test_a_long_wait_is_given_in_minutes_and_a_recovery_code_waits_too(client, frozen_clock):
    from django.utils import timezone

    doctor = with_app(PhysicianFactory())
    static = doctor.staticdevice_set.create(name="Recovery codes")
    static.token_set.create(token="abcdefgh")
    sign_in(client, doctor)
    # 12 wrong codes in a row, the last just now: 2^(12-3-1) = 256 s to wait.
    for device in (TOTPDevice.objects.get(user=doctor), static):
        device.throttling_failure_count = 12
        device.throttling_failure_timestamp = timezone.now()
        device.save()
    for token in (code(SECRET), "abcdefgh"):
        response = client.post("/accounts/two-factor/", {"otp_token": token})
        assert response.status_code == 429 and "Wait 5 minutes" in response.content.decode()
    frozen_clock.shift(256)
    assert client.post("/accounts/two-factor/", {"otp_token": "abcdefgh"}).status_code == 302
    assert TOTPDevice.objects.get(user=doctor).throttling_failure_count == 0


def test_enrolment_allows_a_wrong_code_then_waits_after_repeated_ones(client, frozen_clock):
    sign_in(client, PhysicianFactory())
    page = client.get("/accounts/two-factor/setup/").content.decode()
    secret = re.search(r'<code class="user-select-all">([A-Z2-7=]+)</code>', page).group(1)
    url = "/accounts/two-factor/setup/"
    for _ in range(3):
        assert "Wait" not in wrong(client, url)
    assert "Wait 1 second" in wrong(client, url)
    response = client.post(url, {"otp_token": code(secret)})
    assert response.status_code == 429 and "Wait 1 second" in response.content.decode()
    frozen_clock.shift(1)
    response = client.post(url, {"otp_token": code(secret)})
    assert len(re.findall(r"<li>([a-z2-7]{8})</li>", response.content.decode())) == 10


def test_staff_without_a_second_factor_enrol_and_get_recovery_codes(client):
    doctor = PhysicianFactory()
    sign_in(client, doctor)
    response = client.get("/physician/")
    assert response["Location"].startswith("/accounts/two-factor/setup/")
    page = client.get(response["Location"]).content.decode()
    assert "<svg" in page  # the QR code
    secret = re.search(r'<code class="user-select-all">([A-Z2-7=]+)</code>', page).group(1)
    assert client.post("/accounts/two-factor/setup/", {"otp_token": "123456"}).status_code == 400
    response = client.post(
        "/accounts/two-factor/setup/", {"otp_token": code(secret), "next": "/physician/"}
    )
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", response.content.decode())
    assert len(codes) == 10
    assert client.get("/physician/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.SECOND_FACTOR_ENROLLED, user=doctor)
    # A recovery code signs her in once.
    client.logout()
    sign_in(client, doctor)
    assert client.post("/accounts/two-factor/", {"otp_token": codes[0]}).status_code == 302
    client.logout()
    sign_in(client, doctor)
    assert client.post("/accounts/two-factor/", {"otp_token": codes[0]}).status_code == 400
    assert StaticToken.objects.filter(device__user=doctor).count() == 9


def test_a_coordinator_removes_a_lost_second_factor(client):
    coordinator = with_app(CoordinatorFactory())
    doctor = with_app(PhysicianFactory())
    sign_in(client, coordinator)
    client.post("/accounts/two-factor/", {"otp_token": code(SECRET)})
    url = f"/admin/diary/user/{doctor.pk}/second-factor/"
    assert client.post(url, {"reason": "Lost her phone; called from her desk"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=doctor).exists()
    event = AuditEvent.objects.get(action=AuditAction.SECOND_FACTOR_REMOVED)
    assert (event.actor, event.user) == (coordinator, doctor)
    assert client.get(f"/admin/diary/user/{coordinator.pk}/second-factor/").status_code == 403


def test_the_second_factor_can_be_off_only_while_debug_is_on():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "x" * 50, "STAFF_2FA": "0"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "STAFF_2FA can be turned off only while DEBUG is on" in result.stderr


def test_the_demo_staff_sign_in_with_the_published_secret(client, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert SECRET in out.getvalue() and "manage.py demo_totp" in out.getvalue()
    for username in ("coordinator", "statistician", "physician1"):
        client.post("/accounts/login/", {"username": username, "password": "ldn-demo-2026"})
        response = client.post("/accounts/two-factor/", {"otp_token": code(SECRET)})
        assert response.status_code == 302, username
        assert client.get("/physician/").status_code == 200
        client.logout()
    printed = StringIO()
    call_command("demo_totp", stdout=printed, stderr=StringIO())
    assert printed.getvalue().strip() in {code(SECRET), code(SECRET, time.time() - 30)}
