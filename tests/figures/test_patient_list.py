"""The patient list and the compliance calendar: paging, search, every sort, filters,
query counts, page weight, the calendar's cells and its blinded phase boundaries."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.hashers import make_password

from diary.figures import alerts
from diary.people.models import Role, User
from diary.trial.models import Enrollment, EnrollmentStatus
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    builtin_arm,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)


@pytest.fixture
def alice():
    return PhysicianFactory(username="alice")


@pytest.fixture
def arm():
    return make_arm([("baseline", 14), ("ldn", 84), ("followup", 14)])


def enroll(arm, physician, study_id, started_days_ago=30, **kwargs):
    return EnrollmentFactory(
        arm=arm,
        protocol=arm.protocol,
        physician=physician,
        study_id=study_id,
        start_date=TODAY - dt.timedelta(days=started_days_ago),
        **kwargs,
    )


def write(enrollment, days_ago, **values):
    for back in days_ago:
        EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=back), **values)


def listed(response) -> list[str]:
    return [row.enrollment.study_id for row in response.context["rows"]]


def bulk_enroll(physician, count, arm=None, prefix="P"):
    """`count` patients in two queries (for the list's size and query-count tests)."""
    arm = arm or builtin_arm()
    password = make_password("x")
    patients = User.objects.bulk_create(
        User(username=f"{prefix.lower()}-patient-{n}", role=Role.PATIENT, password=password)
        for n in range(count)
    )
    return Enrollment.objects.bulk_create(
        Enrollment(
            study_id=f"{prefix}-{n:04d}",
            patient=patient,
            physician=physician,
            protocol=arm.protocol,
            arm=arm,
            start_date=TODAY - dt.timedelta(days=n % 90),
            timezone="America/Los_Angeles",
        )
        for n, patient in enumerate(patients)
    )


# Paging and search -----------------------------------------------------------------


def test_fifty_patients_a_page_with_a_count_and_page_links(client, alice):
    bulk_enroll(alice, 60)
    client.force_login(alice)
    first = client.get("/physician/")
    assert len(listed(first)) == 50
    page = first.content.decode()
    assert "1–50 of 60 patients" in page
    assert 'href="?page=2"' in page
    second = client.get("/physician/", {"page": 2})
    assert listed(second) == [f"P-{n:04d}" for n in range(50, 60)]
    assert "51–60 of 60 patients" in second.content.decode()
    # Pages that do not exist show the nearest page, never an error.
    assert listed(client.get("/physician/", {"page": 99})) == listed(second)
    assert listed(client.get("/physician/", {"page": "abc"})) == listed(first)


def test_search_finds_any_part_of_the_study_id_in_any_case(client, alice, arm):
    for study_id in ("FM-010", "FM-011", "fm-120", "XFM-010", "FM_200"):
        enroll(arm, alice, study_id)
    client.force_login(alice)
    assert listed(client.get("/physician/", {"q": "fm-01"})) == ["FM-010", "FM-011", "XFM-010"]
    assert listed(client.get("/physician/", {"q": "010"})) == ["FM-010", "XFM-010"]
    assert listed(client.get("/physician/", {"q": "FM-1"})) == ["fm-120"]
    # "_" and "%" are letters of the search, not wildcards.
    assert listed(client.get("/physician/", {"q": "M_2"})) == ["FM_200"]
    assert listed(client.get("/physician/", {"q": "%"})) == []
    assert listed(client.get("/physician/calendar/", {"q": "011"})) == ["FM-011"]
    response = client.get("/physician/", {"q": "zzz"})
    assert listed(response) == []
    assert "No patient matches" in response.content.decode()


def test_page_links_keep_the_search_filters_and_order(client, alice):
    bulk_enroll(alice, 120)
    client.force_login(alice)
    page = client.get("/physician/", {"q": "P-0", "sort": "-study_id"}).content.decode()
    assert 'href="?q=P-0&amp;sort=-study_id&amp;page=2"' in page


# Sorting ----------------------------------------------------------------------------


@pytest.fixture
def four(alice, arm):
    """Four patients whose every sort key differs."""
    a = enroll(arm, alice, "FM-A", started_days_ago=40)  # LDN, day 27
    write(a, range(1, 15))  # 100%, missed 0, last yesterday
    b = enroll(arm, alice, "FM-B", started_days_ago=5)  # baseline day 6
    write(b, [4, 5])  # 2 of 5: 40%, missed 3 (last 7 days: 5 diary days)
    c = enroll(arm, alice, "FM-C", started_days_ago=200)  # schedule over: no phase
    write(c, [100])
    d = enroll(arm, alice, "FM-D", started_days_ago=100)  # follow-up day 3
    write(d, range(1, 15, 2))  # 7 of 14: 50%, missed 3 of 7
    return a, b, c, d


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("study_id", ["FM-A", "FM-B", "FM-C", "FM-D"]),
        ("-study_id", ["FM-D", "FM-C", "FM-B", "FM-A"]),
        # compliance: C has no diary day in the window (none: last either way)
        ("compliance", ["FM-B", "FM-D", "FM-A", "FM-C"]),
        ("-compliance", ["FM-A", "FM-D", "FM-B", "FM-C"]),
        # missed: A 0, B 3 of 5 days, D 3 of 7 days (ties by study ID), C none
        ("missed", ["FM-A", "FM-B", "FM-D", "FM-C"]),
        ("-missed", ["FM-B", "FM-D", "FM-A", "FM-C"]),
        # last entry: A and D wrote yesterday (ties by study ID)
        ("last_entry", ["FM-C", "FM-B", "FM-A", "FM-D"]),
        ("-last_entry", ["FM-A", "FM-D", "FM-B", "FM-C"]),
        # phase: baseline, LDN, follow-up; C is in no phase
        ("phase", ["FM-B", "FM-A", "FM-D", "FM-C"]),
        ("-phase", ["FM-D", "FM-A", "FM-B", "FM-C"]),
    ],
)
def test_every_sort_in_both_directions(client, alice, four, sort, expected):
    client.force_login(alice)
    response = client.get("/physician/", {"sort": sort})
    assert response.status_code == 200
    assert listed(response) == expected
    key = sort.lstrip("-")
    direction = "descending" if sort.startswith("-") else "ascending"
    assert re.search(
        rf'<th scope="col" aria-sort="{direction}"><a href="\?sort=-?{key}"',
        response.content.decode(),
    )


def test_the_columns_show_compliance_missed_days_and_last_entry(client, alice, four):
    client.force_login(alice)
    rows = {row.enrollment.study_id: row for row in client.get("/physician/").context["rows"]}
    assert rows["FM-A"].compliance_14 == 100
    assert rows["FM-B"].compliance_14 == 40
    assert rows["FM-D"].compliance_14 == 50
    assert rows["FM-C"].compliance_14 is None
    assert rows["FM-B"].missed_last_7 == 3
    assert rows["FM-A"].last_entry == TODAY - dt.timedelta(days=1)
    assert (rows["FM-A"].phase_label, rows["FM-A"].phase_day) == ("LDN", 27)


def test_a_bad_sort_or_filter_gets_a_message(client, alice, four):
    client.force_login(alice)
    response = client.get("/physician/", {"sort": "name", "status": "lost", "protocol": "x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Sort by study_id, compliance, missed, last_entry or phase" in page
    assert "Pick a status from the list" in page
    assert "There is no such protocol" in page


# Filters ----------------------------------------------------------------------------


def test_filters_by_protocol_status_and_for_coordinators_physician(client, alice, arm):
    bob = PhysicianFactory(username="bob")
    enroll(arm, alice, "FM-1")
    enroll(arm, alice, "FM-2", status=EnrollmentStatus.WITHDRAWN, withdrawn_on=TODAY)
    enroll(arm, bob, "FM-3")
    other = builtin_arm()
    enroll(other, bob, "FM-4")
    client.force_login(alice)
    assert listed(client.get("/physician/", {"status": "withdrawn"})) == ["FM-2"]
    # A physician has no physician filter: she only ever sees her own patients.
    assert listed(client.get("/physician/", {"physician": "bob"})) == ["FM-1", "FM-2"]
    client.force_login(CoordinatorFactory())
    assert listed(client.get("/physician/", {"physician": "bob"})) == ["FM-3", "FM-4"]
    assert listed(client.get("/physician/", {"protocol": "ldn-fm-2013"})) == ["FM-4"]
    assert listed(client.get("/physician/", {"physician": "alice", "status": "active"})) == ["FM-1"]


def test_a_protocol_is_shown_by_its_name_never_its_slug(client, alice):
    enrollment = enroll(builtin_arm("ldn-fm-2013", "A"), alice, "FM-1")
    name = "Fibromyalgia, double-blind crossover (Younger et al. 2013)"
    client.force_login(alice)
    pages = {
        url: client.get(url).content.decode()
        for url in (
            "/physician/",
            "/physician/cohort/",
            f"/physician/patients/{enrollment.study_id}/",
        )
    }
    for url, page in pages.items():
        assert name in page, url
        # The slug stays only in addresses and form values, never as text people read.
        shown = re.sub(r'(value|href|id|aria-labelledby|data-[a-z-]+)="[^"]*"', "", page)
        assert "ldn-fm-2013" not in shown.lower(), url
    option = re.search(r'<option value="ldn-fm-2013"[^>]*>([^<]*)</option>', pages["/physician/"])
    assert option.group(1) == name


# Size and queries -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/physician/", "/physician/calendar/"])
def test_the_query_count_is_the_same_for_60_and_600_patients(
    client, alice, url, django_assert_num_queries
):
    client.force_login(alice)
    enrollments = bulk_enroll(alice, 60)
    for enrollment in enrollments[:5]:
        write(enrollment, [1, 2])
    alerts.run(NOW)
    # session, user, count, time zones, protocols, activity, the page's enrollments and
    # their protocols, open alerts, the protocol filter's choices, (the list's counts of
    # queries not closed | the calendar's entries); the session's new idle expiry
    # (savepoint, update, release)
    expected = 14
    with django_assert_num_queries(expected):
        client.get(url)
    bulk_enroll(alice, 540, prefix="Q")
    alerts.run(NOW)
    with django_assert_num_queries(expected):
        client.get(url, {"page": 7, "sort": "-compliance"})


def test_the_list_of_2000_patients_stays_under_100_kb(client):
    coordinator = CoordinatorFactory()
    bulk_enroll(PhysicianFactory(), 2000)
    alerts.run(NOW)
    client.force_login(coordinator)
    response = client.get("/physician/")
    assert response.status_code == 200
    assert "1–50 of 2000 patients" in response.content.decode()
    assert len(response.content) < 100_000


# The calendar -----------------------------------------------------------------------


def cells(response, study_id) -> dict[dt.date, str]:
    """{day: state code} of one patient's calendar row."""
    for row, row_cells in response.context["calendar"]:
        if row.enrollment.study_id == study_id:
            return {cell.date: cell.state.code for cell in row_cells}
    raise AssertionError(f"{study_id} is not on the calendar")


def test_the_calendar_shows_each_state_of_a_diary_day(client, alice, arm):
    enrollment = enroll(arm, alice, "FM-1", started_days_ago=10)
    write(enrollment, [9])
    write(enrollment, [8], late=True)
    write(enrollment, [7], voided=True, void_reason="Wrong patient")
    client.force_login(alice)
    response = client.get("/physician/calendar/")
    days = response.context["days"]
    assert (days[0], days[-1], len(days)) == (TODAY - dt.timedelta(days=27), TODAY, 28)
    state = cells(response, "FM-1")
    back = lambda n: TODAY - dt.timedelta(days=n)  # noqa: E731
    assert state[back(11)] == "none"  # before her start
    assert state[back(10)] == "missed"
    assert state[back(9)] == "recorded"
    assert state[back(8)] == "late"
    assert state[back(7)] == "voided"
    assert state[back(2)] == "missed"
    assert state[back(1)] == "open"  # yesterday can still be filled in
    assert state[back(0)] == "open"
    page = response.content.decode()
    for words in ("Recorded late", "Voided", "Missed", "Not a diary day"):
        assert f'<span class="visually-hidden">{words}' in page


def test_days_after_a_withdrawal_are_not_diary_days(client, alice, arm):
    enrollment = enroll(
        arm,
        alice,
        "FM-1",
        started_days_ago=10,
        status=EnrollmentStatus.WITHDRAWN,
        withdrawn_on=TODAY - dt.timedelta(days=4),
    )
    write(enrollment, [5])
    client.force_login(alice)
    state = cells(client.get("/physician/calendar/"), "FM-1")
    assert state[TODAY - dt.timedelta(days=5)] == "recorded"
    assert state[TODAY - dt.timedelta(days=4)] == "missed"
    assert state[TODAY - dt.timedelta(days=3)] == "none"


def test_a_patient_ahead_of_or_behind_the_study_clock_is_shown_on_her_own_day(client, alice, arm):
    # 12:00 on 10 March in Los Angeles is 08:00 on 11 March in Auckland.
    ahead = enroll(arm, alice, "FM-NZ", timezone="Pacific/Auckland")
    client.force_login(alice)
    state = cells(client.get("/physician/calendar/"), "FM-NZ")
    assert state[TODAY] == "open"  # her yesterday: still open
    assert state[TODAY - dt.timedelta(days=1)] == "missed"  # two days ago for her
    enroll(arm, alice, "FM-HI", timezone="Pacific/Honolulu")
    # 01:00 on 11 March in Los Angeles (the study's clock) is 22:00 on 10 March there.
    with time_machine.travel(dt.datetime(2026, 3, 11, 1, 0, tzinfo=LA), tick=False):
        client.force_login(alice)  # (staff sessions end after 30 idle minutes)
        state = cells(client.get("/physician/calendar/"), "FM-HI")
        assert state[TODAY + dt.timedelta(days=1)] == "upcoming"  # not begun for her
        assert state[TODAY] == "open"
    assert ahead.local_today(NOW) == TODAY + dt.timedelta(days=1)


def test_a_cell_links_to_that_day_on_her_page(client, alice, arm):
    enrollment = enroll(arm, alice, "FM-1", started_days_ago=10)
    write(enrollment, [3])
    client.force_login(alice)
    page = client.get("/physician/calendar/").content.decode()
    day = (TODAY - dt.timedelta(days=3)).isoformat()
    assert f'href="/physician/patients/FM-1/#day-{day}"' in page
    assert f'id="day-{day}"' in client.get("/physician/patients/FM-1/").content.decode()


def test_the_calendar_is_a_table_with_headers_on_both_axes(client, alice, arm):
    enroll(arm, alice, "FM-1")
    client.force_login(alice)
    page = client.get("/physician/calendar/").content.decode()
    assert page.count('<th scope="col" class="cal-day">') == 28
    assert '<th scope="row" class="cal-id">' in page
    assert "<caption" in page


def test_the_calendar_marks_phase_boundaries_as_the_reader_may_see_them(client, alice):
    arm_a, arm_b = builtin_arm(code="A"), builtin_arm(code="B")
    # Day 15 (the first treatment day) is 10 days ago for both.
    enroll(arm_a, alice, "FM-A", started_days_ago=24)
    enroll(arm_b, alice, "FM-B", started_days_ago=24)
    client.force_login(alice)
    response = client.get("/physician/calendar/")
    day = TODAY - dt.timedelta(days=10)
    for study_id in ("FM-A", "FM-B"):
        (row_cells,) = [
            c for r, c in response.context["calendar"] if r.enrollment.study_id == study_id
        ]
        starts = {cell.date: cell.phase_start for cell in row_cells if cell.phase_start}
        assert starts == {TODAY - dt.timedelta(days=24): "Baseline", day: "Treatment"}
    page = response.content.decode()
    assert "Treatment begins" in page
    for word in ("LDN", "Placebo", "placebo"):
        assert word not in page
    # The same rows, however the arms differ.
    a = re.search(r"FM-A</a></th>(.*?)</tr>", page, re.S).group(1)
    b = re.search(r"FM-B</a></th>(.*?)</tr>", page, re.S).group(1)
    assert a.replace("FM-A", "X") == b.replace("FM-B", "X")


def test_the_calendar_shares_the_lists_filters_and_paging(client, alice):
    bulk_enroll(alice, 60)
    client.force_login(alice)
    response = client.get("/physician/calendar/", {"page": 2, "q": "p-00"})
    assert [row.enrollment.study_id for row, _ in response.context["calendar"]] == [
        f"P-{n:04d}" for n in range(50, 60)
    ]
