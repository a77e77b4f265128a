"""Phase review signatures through the review page: who signs, with what, what is
stored, what a later change does, and every refusal (nothing signed)."""

import hashlib
import json
import time

import pytest

from diary.audit.models import AuditAction, AuditEvent
from diary.signoff.models import PhaseSignature
from diary.signoff.review import canonical_json
from tests.factories import (
    PASSWORD,
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    VisitFactory,
)
from tests.people.test_two_factor import SECRET, code, with_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def physician():
    return with_app(PhysicianFactory(first_name="Ana", last_name="Reyes"))


@pytest.fixture
def enrollment(physician):
    # Day 1 was 20 days ago: baseline (14 days) has ended and its window closed.
    enrollment = EnrollmentFactory(physician=physician)
    EntryFactory(enrollment=enrollment, pain=6)
    return enrollment


def url(enrollment, order=1):
    return f"/physician/patients/{enrollment.study_id}/phases/{order}/review/"


def sign(client, enrollment, order=1, *, password=PASSWORD, token=None, meaning="reviewed"):
    token = code(SECRET) if token is None else token
    return client.post(
        url(enrollment, order), {"password": password, "otp_token": token, "meaning": meaning}
    )


def test_her_physician_signs_an_ended_phase(client, physician, enrollment):
    client.force_login(physician)
    page = client.get(url(enrollment))
    assert page.status_code == 200
    assert 'name="password"' in page.content.decode() and 'name="meaning"' in page.content.decode()
    response = sign(client, enrollment)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/physician/patients/{enrollment.study_id}/#signatures")
    (signature,) = PhaseSignature.objects.all()
    assert signature.signer == physician and signature.printed_name == "Ana Reyes"
    assert signature.meaning == "reviewed" and signature.phase_order == 1
    assert signature.content["days"][0]["entry"]["pain"] == 6
    # Anyone can recompute the hash from the stored content.
    recomputed = hashlib.sha256(
        json.dumps(
            signature.content, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    ).hexdigest()
    assert (
        signature.content_sha256
        == recomputed
        == hashlib.sha256(canonical_json(signature.content).encode()).hexdigest()
    )
    assert AuditEvent.objects.filter(action=AuditAction.PHASE_SIGNED).count() == 1
    detail = client.get(f"/physician/patients/{enrollment.study_id}/").content.decode()
    assert f"Signed by Ana Reyes, {signature.signed_at:%Y-%m-%d %H:%M}+00:00, reviewed" in detail
    trail = client.get(f"/admin/diary/enrollment/{enrollment.pk}/trail/")
    if trail.status_code == 200:
        assert "phase signed" in trail.content.decode().lower()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"password": "wrong"}, "That password is not right"),
        ({"token": "000000"}, "That code is not right"),
        ({"meaning": "agreed"}, "Choose what your signature means"),
        ({"token": ""}, "This field is required"),
    ],
)
def test_bad_input_signs_nothing(client, physician, enrollment, change, message):
    client.force_login(physician)
    response = sign(client, enrollment, **change)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PhaseSignature.objects.exists()


def test_a_wrong_password_counts_toward_the_sign_in_lockout(client, physician, enrollment):
    from axes.models import AccessFailureLog

    client.force_login(physician)
    sign(client, enrollment, password="wrong")
    assert AccessFailureLog.objects.filter(username=physician.username).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.SIGNATURE_FAILED).count() == 1


def test_a_used_code_does_not_sign_twice(client, physician, enrollment):
    client.force_login(physician)
    token = code(SECRET)
    assert sign(client, enrollment, token=token).status_code == 302
    response = sign(client, enrollment, token=token)
    assert response.status_code == 400 and "used already" in response.content.decode()
    assert PhaseSignature.objects.count() == 1


def test_a_phase_not_ended_is_not_signed(client, physician, enrollment):
    client.force_login(physician)
    page = client.get(url(enrollment, 2))
    assert page.status_code == 200 and 'name="password"' not in page.content.decode()
    response = sign(client, enrollment, 2)
    assert response.status_code == 400 and "has not ended" in response.content.decode()
    assert not PhaseSignature.objects.exists()


def test_a_coordinator_cannot_sign_for_her_physician(client, enrollment):
    coordinator = with_app(CoordinatorFactory(first_name="Casey", last_name="Morgan"))
    client.force_login(coordinator)
    assert client.get(url(enrollment)).status_code == 200
    response = sign(client, enrollment)
    assert response.status_code == 400 and "Only her own physician" in response.content.decode()
    assert not PhaseSignature.objects.exists()


def test_another_physicians_patient_is_404(client, enrollment):
    other = with_app(PhysicianFactory(first_name="Lena", last_name="Park"))
    client.force_login(other)
    assert client.get(url(enrollment)).status_code == 404
    assert sign(client, enrollment).status_code == 404


def test_an_account_without_a_full_name_cannot_sign(client, enrollment):
    enrollment.physician.first_name = enrollment.physician.last_name = ""
    enrollment.physician.save()
    client.force_login(enrollment.physician)
    response = sign(client, enrollment)
    assert response.status_code == 400 and "no full name" in response.content.decode()


def test_a_later_change_invalidates_and_signing_again_adds_one(client, physician, enrollment):
    client.force_login(physician)
    sign(client, enrollment)
    entry = enrollment.entries.get()
    entry.pain = 3
    entry._change_reason = "typo on the paper form"
    entry.save()
    (signature,) = PhaseSignature.objects.all()
    assert signature.status == "invalidated"
    assert "typo on the paper form" in signature.invalidated_by_change
    page = client.get(f"/physician/patients/{enrollment.study_id}/").content.decode()
    assert "changed after signing: sign again" in page
    time.sleep(0)  # a new code: the next 30-second step's
    assert sign(client, enrollment, token=code(SECRET, time.time() + 30)).status_code == 302
    assert [s.status for s in PhaseSignature.objects.order_by("signed_at")] == [
        "invalidated",
        "valid",
    ]
    assert AuditEvent.objects.filter(action=AuditAction.SIGNATURE_INVALIDATED).count() == 1


def test_a_visit_before_day_1_counts_for_the_first_phase(client, physician, enrollment):
    client.force_login(physician)
    sign(client, enrollment)
    import datetime as dt

    VisitFactory(enrollment=enrollment, visit_date=enrollment.start_date - dt.timedelta(days=3))
    assert PhaseSignature.objects.get().status == "invalidated"


def test_a_change_in_another_phase_keeps_the_signature(client, physician, enrollment):
    import datetime as dt

    client.force_login(physician)
    sign(client, enrollment)
    EntryFactory(enrollment=enrollment, date=enrollment.start_date + dt.timedelta(days=16))
    assert PhaseSignature.objects.get().status == "valid"
