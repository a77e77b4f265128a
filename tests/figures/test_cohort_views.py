"""The cohort page and the summary on the patient page."""

import datetime as dt

import pytest

from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
)

# 2026-01-20 in the study's time zone: baseline done, treatment period 1 day 6.
NOW = dt.datetime(2026, 1, 20, 20, 0, tzinfo=dt.UTC)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

START = dt.date(2026, 1, 1)


@pytest.fixture
def alice():
    return PhysicianFactory(username="alice")


def add_patient(physician, code="A", slug="ldn-fm-2013", baseline_pain=6, treatment_pain=3):
    enrollment = EnrollmentFactory(
        physician=physician, arm=builtin_arm(slug, code), start_date=START
    )
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 2), pain=baseline_pain)
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 16), pain=treatment_pain)
    return enrollment


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get("/physician/cohort/")["Location"].startswith("/accounts/login/")


def test_patients_get_404(client):
    client.force_login(PatientFactory())
    assert client.get("/physician/cohort/").status_code == 404


def test_physician_sees_her_own_patients_blinded(client, alice):
    add_patient(alice, "A", baseline_pain=6, treatment_pain=3)
    add_patient(alice, "B", baseline_pain=8, treatment_pain=6)
    add_patient(PhysicianFactory(), "A", baseline_pain=2, treatment_pain=2)
    client.force_login(alice)
    response = client.get("/physician/cohort/")
    (result, chart, _scatter) = response.context["protocols"][0]
    assert result.enrollments == 2
    assert "2 enrollments" in response.content.decode()
    baseline, treatment, *_ = result.cohort
    assert baseline.pain_mean == pytest.approx(7.0)
    assert (treatment.kind, treatment.label) == (None, "Treatment")
    assert treatment.pain_reduction_pct_mean == pytest.approx((50 + 25) / 2)
    page = response.content.decode()
    assert ">Treatment<" in page
    assert "37.5%" in page  # one decimal on pages
    assert "LDN" not in page and "Placebo" not in page
    assert "LDN versus placebo" not in page
    assert chart["labels"][:2] == ["Baseline", "Treatment"]
    assert chart["mean"][0] == pytest.approx(7.0)


def test_every_figure_has_its_definition_on_the_page(client, alice):
    add_patient(alice)
    client.force_login(alice)
    page = client.get("/physician/cohort/").content.decode()
    assert "Patients whose pain fell by at least 30% from baseline" in page
    assert "All entries in % of all elapsed days" in page


def test_unblinded_protocol_shows_kinds_and_the_comparison(client, alice):
    patient = add_patient(alice, "A")
    patient.protocol.unblinded_at = dt.datetime(2026, 1, 19, tzinfo=dt.UTC)
    patient.protocol.save()
    client.force_login(alice)
    page = client.get("/physician/cohort/").content.decode()
    assert "LDN versus placebo" in page
    assert ">LDN<" in page


def test_coordinator_filters_by_protocol_and_physician(client, alice):
    add_patient(alice, "A")
    bob = PhysicianFactory(username="bob")
    add_patient(bob, "B")
    add_patient(bob, "P", slug="ldn-fm-2009")
    client.force_login(CoordinatorFactory())
    results = client.get("/physician/cohort/").context["protocols"]
    assert [r.protocol.slug for r, *_ in results] == ["ldn-fm-2009", "ldn-fm-2013"]
    assert results[1][0].blinded  # blinded like a physician without allocation access
    client.force_login(CoordinatorFactory(allocation_access=True))
    results = client.get("/physician/cohort/").context["protocols"]
    assert not results[1][0].blinded
    results = client.get("/physician/cohort/", {"protocol": "ldn-fm-2013"}).context["protocols"]
    assert [(r.protocol.slug, r.enrollments) for r, *_ in results] == [("ldn-fm-2013", 2)]
    response = client.get("/physician/cohort/", {"protocol": "ldn-fm-2013", "physician": "bob"})
    ((result, _, _),) = response.context["protocols"]
    assert result.enrollments == 1


def test_physician_cannot_filter_by_another_physician(client, alice):
    add_patient(alice, baseline_pain=6)
    add_patient(PhysicianFactory(username="bob"), baseline_pain=2)
    client.force_login(alice)
    response = client.get("/physician/cohort/", {"physician": "bob"})
    ((result, _, _),) = response.context["protocols"]
    assert result.enrollments == 1
    assert result.cohort[0].pain_mean == pytest.approx(6.0)  # hers only


def test_bad_filter_values_get_a_message_not_an_error(client, alice):
    add_patient(alice)
    client.force_login(CoordinatorFactory())
    response = client.get("/physician/cohort/", {"protocol": "nope", "as_of": "soon"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "There is no such protocol; pick one from the list." in page
    assert "Enter the as-of date as YYYY-MM-DD." in page


def test_as_of_date_fixes_the_figures(client, alice):
    add_patient(alice)
    client.force_login(alice)
    response = client.get("/physician/cohort/", {"as_of": "2026-01-10"})
    ((result, _, _),) = response.context["protocols"]
    baseline = result.cohort[0]
    assert baseline.compliance_pct == pytest.approx(10.0)  # 1 entry in 10 days


@pytest.mark.parametrize("user_kind", ["physician", "coordinator"])
def test_cohort_page_queries_do_not_grow_with_patients(
    client, alice, user_kind, django_assert_num_queries
):
    user = alice if user_kind == "physician" else CoordinatorFactory()
    client.force_login(user)
    for _ in range(2):
        add_patient(alice)
    # session, user, protocol choices, protocols, the cohort aggregate (+ the physician
    # choices for coordinators), and the session's new idle expiry (savepoint, update,
    # release)
    expected = 8 if user_kind == "physician" else 9
    with django_assert_num_queries(expected):
        client.get("/physician/cohort/")
    for _ in range(18):
        add_patient(alice, "B")
    with django_assert_num_queries(expected):
        response = client.get("/physician/cohort/")
    assert response.context["protocols"][0][0].enrollments == 20


def test_patient_page_shows_the_summary_table_and_chart_data(client, alice):
    enrollment = add_patient(alice, "A", baseline_pain=6, treatment_pain=3)
    client.force_login(alice)
    response = client.get(f"/physician/patients/{enrollment.study_id}/")
    baseline, treatment, followup = response.context["summary"].phases
    assert (baseline.elapsed_days, baseline.entries) == (14, 1)
    assert baseline.low_compliance
    assert treatment.label == "Treatment"
    assert (treatment.end - treatment.start).days + 1 == 112
    assert treatment.pain_reduction_pct == pytest.approx(50.0)
    page = response.content.decode()
    assert "7.1%" in page and ">low<" in page
    assert "50.0%" in page
    # The chart spans the days so far (day 1 to the page's as-of day, day 20), not the
    # whole 154-day schedule: the phases begun by then, the last one cut at that day.
    chart = response.context["chart"]
    assert len(chart["labels"]) == 20 and chart["labels"][-1] == "2026-01-20"
    assert chart["pain"][1] == 6 and chart["pain"][15] == 3 and chart["pain"][0] is None
    assert [(p["label"], p["from"], p["to"]) for p in chart["phases"]] == [
        ("Baseline", 0, 13),
        ("Treatment", 14, 19),
    ]
    assert "pain-chart-title" in page and "<svg" in page  # drawn without JavaScript too
