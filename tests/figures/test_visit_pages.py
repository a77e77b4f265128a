"""The care team's clinic-visit pages: her visits on her page (in the reader's
blinding), recording, correcting and voiding a visit over HTTP, who may, and what bad
input answers (400 naming the field, nothing saved)."""

import datetime as dt
import html
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from diary.audit.models import DataAccess
from diary.visits import rules
from diary.visits.models import Visit
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
    builtin_arm,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)
START = dt.date(2026, 2, 20)


@pytest.fixture
def alice():
    return PhysicianFactory(username="alice")


@pytest.fixture
def enrollment(alice):
    arm = make_arm([("baseline", 14), ("ldn", 28), ("followup", 14)])
    return EnrollmentFactory(
        study_id="FM-001", physician=alice, arm=arm, protocol=arm.protocol, start_date=START
    )


def page_url(study_id="FM-001"):
    return f"/physician/patients/{study_id}/"


def new_url(study_id="FM-001"):
    return f"/physician/patients/{study_id}/visits/new/"


def edit_url(visit):
    return f"/physician/patients/{visit.enrollment.study_id}/visits/{visit.pk}/"


def void_url(visit):
    return edit_url(visit) + "void/"


def form(day=TODAY, **values):
    data = {
        "visit_date": day.isoformat(),
        "esr": "",
        "pressure_threshold": "",
        "heat_threshold": "",
        "notes": "",
    }
    data.update(values)
    return data


def visits_section(html: str) -> str:
    return html[html.index('<section class="mb-4" id="visits"') :].split("</section>", 1)[0]


# Recording, correcting, voiding ----------------------------------------------------


@pytest.mark.parametrize("who", ["physician", "coordinator"])
def test_the_care_team_records_a_visit(client, enrollment, alice, who):
    user = alice if who == "physician" else CoordinatorFactory()
    client.force_login(user)
    assert client.get(new_url()).status_code == 200
    response = client.post(
        new_url(), form(esr="32", pressure_threshold="3.4", heat_threshold="44.5", notes="ok")
    )
    assert response.status_code == 302
    assert response["Location"] == page_url() + "#visits"
    visit = Visit.objects.get(enrollment=enrollment)
    assert (visit.visit_date, visit.esr, visit.pressure_threshold, visit.heat_threshold) == (
        TODAY,
        32,
        Decimal("3.4"),
        Decimal("44.5"),
    )
    assert visit.source == "staff"
    record = visit.history.get()
    assert (record.history_user, record.history_change_reason) == (user, f"Recorded by {who}")
    page = client.get(response["Location"]).content.decode()
    assert "FM-001: visit of 2026-03-10 recorded." in page
    section = visits_section(page)
    assert "44.5" in section and "3.4" in section and "32" in section and "ok" in section
    assert "ESR (mm/h)" in section and "(kg/cm2)" in section and "(°C)" in section
    assert "Entered by staff" in section


def test_a_measure_left_blank_is_not_done(client, enrollment, alice):
    client.force_login(alice)
    client.post(new_url(), form(esr="12"))
    visit = Visit.objects.get()
    assert visit.pressure_threshold is None and visit.heat_threshold is None
    assert "—" in visits_section(client.get(page_url()).content.decode())


def test_the_page_lists_visits_with_study_day_and_phase(client, enrollment, alice):
    VisitFactory(enrollment=enrollment, visit_date=START - dt.timedelta(days=5), esr=40)
    VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 7), esr=22)
    client.force_login(alice)
    response = client.get(page_url())
    lines = response.context["visits"]
    assert [(line.study_day, line.phase) for line in lines] == [(-4, "Baseline"), (16, "LDN")]
    section = visits_section(response.content.decode())
    assert "(before day 1)" in section
    assert "2026-02-15" in section and "2026-03-07" in section


def test_a_correction_needs_a_reason_and_keeps_it(client, enrollment, alice):
    visit = VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 1), esr=20)
    client.force_login(alice)
    assert client.get(edit_url(visit)).status_code == 200
    response = client.post(edit_url(visit), form(dt.date(2026, 3, 1), esr="25"))
    assert response.status_code == 400
    assert "Give a reason; it is kept in the history." in response.content.decode()
    visit.refresh_from_db()
    assert visit.esr == 20
    response = client.post(
        edit_url(visit), form(dt.date(2026, 3, 1), esr="25", reason="Lab report corrected")
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.esr == 25
    latest = visit.history.first()
    assert (latest.history_user, latest.history_change_reason) == (alice, "Lab report corrected")
    assert "corrected." in client.get(page_url()).content.decode()


def test_voiding_needs_a_reason_and_the_visit_stays_struck(client, enrollment, alice):
    visit = VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 1), esr=20)
    client.force_login(alice)
    assert client.get(void_url(visit)).status_code == 200
    response = client.post(void_url(visit), {"reason": ""})
    assert response.status_code == 400
    assert "Give a reason" in response.content.decode()
    visit.refresh_from_db()
    assert not visit.voided
    response = client.post(void_url(visit), {"reason": "Wrong patient's sample"})
    assert response.status_code == 302 and response["Location"].endswith("#visits")
    visit.refresh_from_db()
    assert visit.voided and visit.void_reason == "Wrong patient's sample"
    section = visits_section(client.get(page_url()).content.decode())
    assert "visit-voided-row" in section
    assert "<strong>Voided:</strong> Wrong patient&#x27;s sample" in section
    assert "<del>" in section
    # No correcting or voiding a voided visit: a new one takes its date.
    assert edit_url(visit) not in section
    response = client.post(edit_url(visit), form(dt.date(2026, 3, 1), esr="1", reason="x"))
    assert response.status_code == 400
    assert client.post(void_url(visit), {"reason": "again"}).status_code == 302
    assert client.post(new_url(), form(dt.date(2026, 3, 1), esr="21")).status_code == 302
    assert Visit.objects.counting().get().esr == 21


def test_changes_need_post_and_csrf(enrollment, alice):
    from django.test import Client

    visit = VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 1))
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(new_url(), form()).status_code == 403
    assert client.post(void_url(visit), {"reason": "x"}).status_code == 403
    assert Visit.objects.count() == 1 and not Visit.objects.get().voided


def test_other_methods_are_405(client, enrollment, alice):
    client.force_login(alice)
    assert client.put(new_url()).status_code == 405
    assert client.delete(new_url()).status_code == 405


def test_the_visit_pages_are_in_the_access_log(client, enrollment, alice):
    visit = VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 1))
    client.force_login(alice)
    client.get(new_url())
    client.get(edit_url(visit))
    client.get(void_url(visit))
    assert list(
        DataAccess.objects.filter(study_id="FM-001").order_by("pk").values_list("what", flat=True)
    ) == ["visit form", "visit correction", "visit void"]


# Who may ---------------------------------------------------------------------------


def test_others_get_404_and_change_nothing(client, enrollment):
    visit = VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 1), esr=20)
    for user in (PhysicianFactory(), enrollment.patient, PatientFactory()):
        client.force_login(user)
        for url in (new_url(), edit_url(visit), void_url(visit)):
            assert client.get(url).status_code == 404, (user, url)
        assert client.post(new_url(), form(esr="1")).status_code == 404
        assert client.post(edit_url(visit), form(esr="1", reason="x")).status_code == 404
        assert client.post(void_url(visit), {"reason": "x"}).status_code == 404
    visit.refresh_from_db()
    assert Visit.objects.count() == 1 and visit.esr == 20 and not visit.voided


def test_a_visit_of_another_patient_is_404_under_this_one(client, enrollment, alice):
    other = EnrollmentFactory(physician=alice, start_date=START)
    visit = VisitFactory(enrollment=other, visit_date=dt.date(2026, 3, 1))
    client.force_login(alice)
    url = f"/physician/patients/FM-001/visits/{visit.pk}/"
    assert client.get(url).status_code == 404
    assert client.post(url + "void/", {"reason": "x"}).status_code == 404
    assert client.get("/physician/patients/FM-001/visits/99999999999999999999/").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, enrollment):
    assert client.get(new_url())["Location"].startswith("/accounts/login/")


# Bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, field, message",
    [
        (form(esr="151"), "esr", "ESR: 151 is out of range: a whole number from 0 to 150 mm/h"),
        (form(esr="abc"), "esr", 'ESR: "abc" is not a number'),
        (form(esr="12.5"), "esr", "has too many decimals"),
        (form(heat_threshold="29.9"), "heat_threshold", "out of range"),
        (form(pressure_threshold="3.45"), "pressure_threshold", "too many decimals"),
        (
            form(START - dt.timedelta(days=29)),
            "visit_date",
            "is more than 28 days before FM-001's start (2026-02-20); the earliest is 2026-01-23",
        ),
        (form(TODAY + dt.timedelta(days=1)), "visit_date", "is in the future"),
        (form(visit_date="2026-02-30"), "visit_date", "Write the visit date as YYYY-MM-DD."),
        (form(visit_date=""), "visit_date", "Give the date of the visit"),
        (form(notes="x" * 1001), "notes", "at most 1000 characters"),
    ],
)
def test_bad_input_is_400_with_the_field_message_and_saves_nothing(
    client, enrollment, alice, data, field, message
):
    client.force_login(alice)
    response = client.post(new_url(), data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert message in html.unescape(response.content.decode())
    assert not Visit.objects.exists()


def test_a_second_visit_on_the_same_date_is_refused(client, enrollment, alice):
    VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 1), esr=20)
    client.force_login(alice)
    response = client.post(new_url(), form(dt.date(2026, 3, 1), esr="30"))
    assert response.status_code == 400
    assert "FM-001 already has a visit on 2026-03-01" in response.content.decode()
    assert Visit.objects.get().esr == 20
    # A correction may not move a visit onto another's date either.
    other = VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 3, 2))
    response = client.post(edit_url(other), form(dt.date(2026, 3, 1), reason="moved"))
    assert response.status_code == 400
    other.refresh_from_db()
    assert other.visit_date == dt.date(2026, 3, 2)


def test_a_refusal_from_the_rules_in_a_race_is_a_form_error(client, enrollment, alice, monkeypatch):
    def raced(*args, **kwargs):
        raise ValidationError(["FM-001 already has a visit on 2026-03-10; correct that visit"])

    monkeypatch.setattr(rules, "save_visit", raced)
    client.force_login(alice)
    response = client.post(new_url(), form(esr="10"))
    assert response.status_code == 400
    assert "FM-001 already has a visit on 2026-03-10" in response.content.decode()
    assert not Visit.objects.exists()


def test_a_field_refusal_from_the_rules_lands_under_its_field(
    client, enrollment, alice, monkeypatch
):
    def refused(*args, **kwargs):
        raise ValidationError({"esr": ["ESR must be at most 150 mm/h."], "source": ["odd"]})

    monkeypatch.setattr(rules, "save_visit", refused)
    client.force_login(alice)
    response = client.post(new_url(), form(esr="10"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["esr"] == ["ESR must be at most 150 mm/h."] and errors["__all__"] == ["odd"]


# Blinding --------------------------------------------------------------------------


def test_a_blinded_physician_sees_the_same_visits_in_both_arms(client, alice):
    pages = []
    for code in ("A", "B"):
        enrollment = EnrollmentFactory(
            study_id=f"BL-{code}", physician=alice, arm=builtin_arm("ldn-fm-2013", code),
            start_date=dt.date(2026, 1, 1),
        )  # fmt: skip
        for day, esr in ((dt.date(2025, 12, 20), 30), (dt.date(2026, 1, 20), 25)):
            VisitFactory(enrollment=enrollment, visit_date=day, esr=esr)
        VisitFactory(
            enrollment=enrollment, visit_date=dt.date(2026, 2, 20), voided=True, void_reason="dup"
        )
        client.force_login(alice)
        response = client.get(page_url(enrollment.study_id))
        assert [line.phase for line in response.context["visits"]] == [
            "Baseline",
            "Treatment",
            "Treatment",
        ]
        section = visits_section(response.content.decode())
        assert "LDN" not in section and "Placebo" not in section
        section = section.replace(enrollment.study_id, "STUDY-ID")
        pages.append(re.sub(r"visits/\d+/|visit-\d+|visit=\d+", "visit-N", section))
        # The forms name no arm either.
        visit = enrollment.visits.first()
        for url in (edit_url(visit), void_url(visit), new_url(enrollment.study_id)):
            text = client.get(url).content.decode()
            assert "LDN" not in text and "Placebo" not in text
    assert pages[0] == pages[1]


def test_allocation_access_sees_the_real_phase(client):
    enrollment = EnrollmentFactory(
        arm=builtin_arm("ldn-fm-2013", "B"), start_date=dt.date(2026, 1, 1)
    )
    VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 1, 20))
    client.force_login(CoordinatorFactory(allocation_access=True))
    response = client.get(page_url(enrollment.study_id))
    assert [line.phase for line in response.context["visits"]] == ["Placebo"]


# Query count -----------------------------------------------------------------------


def test_the_patient_page_query_count_does_not_grow_with_visits(
    client, enrollment, alice, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 2, 21))
    client.force_login(alice)
    client.get(page_url())  # the session settles
    with CaptureQueriesContext(connection) as one:
        client.get(page_url())
    for n in range(2, 11):
        VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 2, 20) + dt.timedelta(days=n))
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(page_url())
    assert len(response.context["visits"]) == 10


# The cohort page: clinic measures and the ESR-and-response scatter ------------------


def esr_patient(physician, arm, esr, baseline_pain, ldn_pain, study_id):
    """Baseline 2026-02-01..02-14, LDN from 02-15: a baseline visit with `esr`."""
    from tests.factories import EntryFactory

    enrollment = EnrollmentFactory(
        study_id=study_id, physician=physician, arm=arm, protocol=arm.protocol,
        start_date=dt.date(2026, 2, 1),
    )  # fmt: skip
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 3), pain=baseline_pain)
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 20), pain=ldn_pain)
    VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 2, 2), esr=esr)
    return enrollment


def scatter_of(page: str) -> str:
    return page[page.index('<svg class="esr-scatter"') :].split("</svg>", 1)[0]


def test_the_cohort_page_plots_baseline_esr_against_pain_reduction(client, alice):
    arm = make_arm([("baseline", 14), ("ldn", 28)])
    for n, (esr, ldn_pain) in enumerate([(10, 8), (25, 6), (40, 5), (60, 2)]):
        esr_patient(alice, arm, esr, 10, ldn_pain, f"ES-{n}")
    client.force_login(alice)
    response = client.get("/physician/cohort/")
    assert response.status_code == 200
    ((result, _chart, scatter),) = response.context["protocols"]
    assert result.esr_response.patients == 4
    assert len(scatter["points"]) == 4
    page = response.content.decode()
    svg = scatter_of(page)
    assert svg.count('<circle class="esr-dot"') == 4
    assert 'role="img"' in svg and "<title" in svg
    assert "Spearman's rho = 1.00" in page and "n = 4" in page
    # Higher ESR, more reduction: the dots rise (SVG's y grows downwards) to the right.
    dots = sorted(scatter["points"], key=lambda p: p["cx"])
    assert [p["study_id"] for p in dots] == ["ES-0", "ES-1", "ES-2", "ES-3"]
    assert all(a["cy"] > b["cy"] for a, b in zip(dots, dots[1:], strict=False))
    assert all(scatter["left"] <= p["cx"] <= scatter["right"] for p in dots)
    assert all(scatter["top"] <= p["cy"] <= scatter["bottom"] for p in dots)
    # The same points in a table in a <details> toggle.
    table = page[page.index('<details class="col-lg-5 esr-points">') :].split("</details>")[0]
    assert '<th scope="row">ES-3</th><td class="text-end">60</td>' in table
    assert "80.0" in table
    # The clinic measures by phase.
    assert "Clinic measures by phase" in page


def test_fewer_than_three_points_say_so_instead_of_rho(client, alice):
    arm = make_arm([("baseline", 14), ("ldn", 28)])
    esr_patient(alice, arm, 10, 10, 8, "ES-0")
    esr_patient(alice, arm, 30, 10, 4, "ES-1")
    client.force_login(alice)
    page = client.get("/physician/cohort/").content.decode()
    assert "too few for a correlation" in page and "rho =" not in page
    assert scatter_of(page).count('<circle class="esr-dot"') == 2


def test_a_blinded_reader_gets_no_scatter_and_the_same_page_in_both_arms(client, alice):
    for code in ("A", "B"):
        esr_patient(alice, builtin_arm("ldn-fm-2013", code), 20, 8, 4, f"BL-{code}")
    client.force_login(alice)
    response = client.get("/physician/cohort/")
    ((result, _chart, scatter),) = response.context["protocols"]
    assert result.esr_response is None and scatter is None
    page = response.content.decode()
    assert "esr-scatter" not in page and "rho" not in page
    assert "shown once the protocol is unblinded" in page
    assert "LDN" not in page and "Placebo" not in page
    client.force_login(CoordinatorFactory(allocation_access=True))
    assert "esr-scatter" in client.get("/physician/cohort/").content.decode()
