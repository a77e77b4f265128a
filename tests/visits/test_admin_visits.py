"""Clinic visits in the admin: recorded, corrected with a reason, voided with a reason,
through the same rules as the care team's form (diary.visits.rules)."""

import datetime as dt

import pytest

from diary.entries import history
from diary.visits.models import Visit
from tests.factories import CoordinatorFactory, EnrollmentFactory, VisitFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/diary/visit/add/"


@pytest.fixture
def coordinator(client):
    user = CoordinatorFactory()
    client.force_login(user)
    return user


def form(enrollment, day, **values):
    return {
        "enrollment": enrollment.pk,
        "visit_date": day.isoformat(),
        "esr": "",
        "pressure_threshold": "",
        "heat_threshold": "",
        "notes": "",
        **values,
    }


def test_a_coordinator_records_a_visit_in_the_admin(client, coordinator):
    enrollment = EnrollmentFactory()
    response = client.post(
        ADD, form(enrollment, enrollment.start_date, esr="32", heat_threshold="44.5")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    visit = Visit.objects.get()
    assert (visit.esr, str(visit.heat_threshold), visit.pressure_threshold) == (32, "44.5", None)
    assert visit.source == "staff"
    assert visit.history.get().history_user == coordinator


@pytest.mark.parametrize(
    "values, message",
    [
        ({"esr": "151"}, "ESR"),
        ({"esr": "abc"}, "is not a number"),
        ({"heat_threshold": "29.9"}, "out of range"),
        ({"pressure_threshold": "3.25"}, "too many decimals"),
    ],
)
def test_bad_measures_are_refused_with_a_message_naming_them(client, coordinator, values, message):
    enrollment = EnrollmentFactory()
    response = client.post(ADD, form(enrollment, enrollment.start_date, **values))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Visit.objects.exists()


def test_a_date_out_of_the_span_and_a_second_visit_are_refused(client, coordinator):
    enrollment = EnrollmentFactory()
    early = enrollment.start_date - dt.timedelta(days=29)
    response = client.post(ADD, form(enrollment, early, esr="3"))
    assert "more than 28 days before" in response.content.decode()
    VisitFactory(enrollment=enrollment)
    response = client.post(ADD, form(enrollment, enrollment.start_date, esr="3"))
    assert "already has a visit" in response.content.decode()
    assert Visit.objects.count() == 1


def test_a_correction_needs_a_reason_and_is_kept_in_the_trail(client, coordinator):
    visit = VisitFactory()
    url = f"/admin/diary/visit/{visit.pk}/change/"
    data = form(
        visit.enrollment,
        visit.visit_date,
        esr="25",
        pressure_threshold="3.5",
        heat_threshold="44.0",
    )
    del data["enrollment"]
    response = client.post(url, {**data, "change_reason": ""})
    assert response.status_code == 200 and "Say why" in response.content.decode()
    visit.refresh_from_db()
    assert visit.esr == 20
    response = client.post(url, {**data, "change_reason": "Lab sheet re-read"})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.esr == 25
    rows = [r for r in history.trail(visit.enrollment, coordinator) if r.object.startswith("Visit")]
    assert rows[-1].why == "Lab sheet re-read" and "esr: 20 → 25" in rows[-1].changes


def test_voiding_needs_a_reason_and_leaves_the_visit_read_only(client, coordinator):
    visit = VisitFactory()
    url = f"/admin/diary/visit/{visit.pk}/change/"
    data = form(
        visit.enrollment,
        visit.visit_date,
        esr="20",
        pressure_threshold="3.5",
        heat_threshold="44.0",
    )
    del data["enrollment"]
    response = client.post(url, {**data, "voided": "on", "void_reason": "", "change_reason": "x"})
    assert "reason for voiding" in response.content.decode()
    response = client.post(
        url, {**data, "voided": "on", "void_reason": "Wrong patient", "change_reason": "Void"}
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.voided and visit.void_reason == "Wrong patient"
    page = client.get(url).content.decode()
    assert 'name="esr"' not in page  # read only once voided
    assert client.post(f"/admin/diary/visit/{visit.pk}/delete/").status_code == 403


def test_a_physician_cannot_reach_the_visit_admin(client):
    from tests.factories import PhysicianFactory

    client.force_login(PhysicianFactory())
    assert client.get(ADD).status_code in (302, 403, 404)


def test_a_void_reason_over_100_characters_is_a_form_error(client, coordinator):
    visit = VisitFactory()
    url = f"/admin/diary/visit/{visit.pk}/change/"
    data = form(
        visit.enrollment,
        visit.visit_date,
        esr="20",
        pressure_threshold="3.5",
        heat_threshold="44.0",
    )
    del data["enrollment"]
    response = client.post(
        url, {**data, "voided": "on", "void_reason": "x" * 150, "change_reason": "Void"}
    )
    assert response.status_code == 200 and "keep it to 100" in response.content.decode()
    visit.refresh_from_db()
    assert not visit.voided


def test_notes_count_a_line_break_as_one_character(client, coordinator):
    enrollment = EnrollmentFactory()
    notes = "abcd\r\n" * 180  # 900 characters as seen, 1,080 as sent
    response = client.post(ADD, form(enrollment, enrollment.start_date, esr="3", notes=notes))
    assert response.status_code == 302
    assert Visit.objects.get().notes == "abcd\n" * 179 + "abcd"


def test_a_visit_left_after_a_back_dated_withdrawal_can_still_be_voided(client, coordinator):
    enrollment = EnrollmentFactory()
    visit = VisitFactory(enrollment=enrollment, visit_date=enrollment.start_date + dt.timedelta(5))
    enrollment.status, enrollment.withdrawn_on = "withdrawn", enrollment.start_date
    enrollment.withdrawal_reason = "Moved"
    enrollment.save()
    visit.refresh_from_db()
    url = f"/admin/diary/visit/{visit.pk}/change/"
    data = form(
        enrollment, visit.visit_date, esr="20", pressure_threshold="3.5", heat_threshold="44.0"
    )
    del data["enrollment"]
    response = client.post(
        url, {**data, "voided": "on", "void_reason": "After her withdrawal", "change_reason": "V"}
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.voided


def test_the_admin_refuses_a_withdrawal_dated_before_a_visit(client, coordinator):
    enrollment = EnrollmentFactory()
    VisitFactory(enrollment=enrollment, visit_date=enrollment.start_date + dt.timedelta(5))
    page = client.get(f"/admin/diary/enrollment/{enrollment.pk}/change/")
    assert page.status_code == 200
    import re

    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.content.decode()))
    data = {
        **fields,
        "status": "withdrawn",
        "withdrawn_on": (enrollment.start_date + dt.timedelta(days=2)).isoformat(),
        "withdrawal_reason": "Moved",
        "change_reason": "Withdrawn",
        "timezone": enrollment.timezone,
        "physician": enrollment.physician_id,
    }
    response = client.post(f"/admin/diary/enrollment/{enrollment.pk}/change/", data)
    assert "has a clinic visit on" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.status == "active"
