"""Coordinators create protocols, arms, phases and enrollments in the admin."""

import datetime as dt

import pytest

from diary.models import Enrollment, Protocol
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
)

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "/admin/",
    "/admin/diary/protocol/",
    "/admin/diary/protocol/add/",
    "/admin/diary/arm/add/",
    "/admin/diary/enrollment/",
    "/admin/diary/enrollment/add/",
    "/admin/diary/diaryentry/",
    "/admin/diary/user/add/",
]


def test_coordinator_without_superuser_rights_can_use_every_admin_page(client):
    EntryFactory()
    client.force_login(CoordinatorFactory())
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 200, url


def test_patients_and_physicians_cannot_open_the_admin(client):
    for user in (PatientFactory(), PhysicianFactory()):
        client.force_login(user)
        response = client.get("/admin/diary/enrollment/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_coordinator_creates_a_protocol_with_an_arm(client):
    client.force_login(CoordinatorFactory())
    response = client.post(
        "/admin/diary/protocol/add/",
        {
            "slug": "ldn-fm-open",
            "name": "Open-label extension",
            "blinding": "open",
            "block_size": "1",
            "randomization_seed": "open-extension-2026",
            "arms-TOTAL_FORMS": "1",
            "arms-INITIAL_FORMS": "0",
            "arms-0-code": "X",
            "arms-0-name": "Extension",
        },
    )
    assert response.status_code == 302, response.content.decode()
    protocol = Protocol.objects.get(slug="ldn-fm-open")
    assert protocol.arms.get().code == "X"


def test_coordinator_enrolls_a_patient(client):
    coordinator = CoordinatorFactory()
    client.force_login(coordinator)
    arm = builtin_arm("ldn-fm-2013", "A")
    response = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-100",
            "patient": PatientFactory().pk,
            "physician": PhysicianFactory().pk,
            "protocol": arm.protocol.pk,
            "arm": arm.pk,
            "start_date": "2026-03-01",
            "status": "active",
            "timezone": "America/Chicago",
        },
    )
    assert response.status_code == 302, response.content.decode()
    enrollment = Enrollment.objects.get(study_id="FM-100")
    assert enrollment.start_date == dt.date(2026, 3, 1)
    assert enrollment.history.get().history_user == coordinator


def test_admin_refuses_an_arm_of_another_protocol(client):
    client.force_login(CoordinatorFactory())
    response = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-101",
            "patient": PatientFactory().pk,
            "physician": PhysicianFactory().pk,
            "protocol": builtin_arm("ldn-fm-2013", "A").protocol.pk,
            "arm": builtin_arm("ldn-fm-2009", "P").pk,
            "start_date": "2026-03-01",
            "status": "active",
            "timezone": "America/Chicago",
        },
    )
    assert response.status_code == 200
    assert "This arm belongs to another protocol." in response.content.decode()
    assert not Enrollment.objects.filter(study_id="FM-101").exists()


def test_admin_cannot_delete_diary_entries(client):
    entry = EntryFactory()
    client.force_login(CoordinatorFactory(is_superuser=True))
    assert client.get(f"/admin/diary/diaryentry/{entry.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/diary/diaryentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_duplicate_study_id_is_refused_with_a_message(client):
    EnrollmentFactory(study_id="FM-200")
    client.force_login(CoordinatorFactory())
    arm = builtin_arm()
    response = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-200",
            "patient": PatientFactory().pk,
            "physician": PhysicianFactory().pk,
            "protocol": arm.protocol.pk,
            "arm": arm.pk,
            "start_date": "2026-03-01",
            "status": "active",
            "timezone": "America/Chicago",
        },
    )
    assert "Enrollment with this Study ID already exists." in response.content.decode()
