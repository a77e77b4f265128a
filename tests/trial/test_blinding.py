"""Blinding that holds: a blinded reader cannot tell the arm from anything the app shows.

The central test builds two patients of ldn-fm-2013 with the same start day, the same
physician and identical entries, one in arm A and one in arm B, and checks that every
page and file a blinded patient, physician or coordinator can open about them is the
same byte for byte: once with the two patients side by side (study IDs, user names,
row ids and the CSRF token replaced), and once with their arms swapped in the database
(nothing replaced but the CSRF token).
"""

import datetime as dt
import html
import re
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import Client

from diary.audit.models import AuditEvent
from diary.entries import reminders
from diary.figures import alerts
from diary.queries import rules as queries
from diary.queries.models import DataQuery
from diary.trial import blinding, unblinding
from diary.trial.models import Enrollment, Protocol
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
    builtin_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=LA)
TODAY = NOW.date()
START = TODAY - dt.timedelta(days=40)  # study day 41: day 27 of the treatment window

# Words that would name a treatment or an arm. The protocol's slug ("ldn-fm-2013") and
# the JSON key "ldn_vs_placebo" (null while blinded) name neither.
LEAKS = re.compile(r"\bLDN\b(?!-fm)|\bplacebo\b|\bArm [AB]\b|naltrexone", re.IGNORECASE)


def leaks(text: str) -> list[str]:
    return sorted(set(LEAKS.findall(text)))


@pytest.fixture
def physician():
    return PhysicianFactory(username="dr-blind")


@pytest.fixture
def pair(physician):
    """Patients X (arm A) and Y (arm B): same start, physician, time zone and entries."""
    enrollments = []
    for code, name in (("A", "x"), ("B", "y")):
        enrollment = EnrollmentFactory(
            study_id=f"FM-{name.upper()}",
            patient=PatientFactory(username=f"pat-{name}", email=f"pat-{name}@example.org"),
            physician=physician,
            arm=builtin_arm("ldn-fm-2013", code),
            start_date=START,
            timezone="America/Los_Angeles",
        )
        for offset in range(40):
            if offset % 6 == 5:
                continue  # a missed day
            treatment = offset >= 14
            EntryFactory(
                enrollment=enrollment,
                date=START + dt.timedelta(days=offset),
                pain=(offset * 7) % 11,
                fatigue=(offset * 3) % 11,
                sleep_quality=(offset * 5) % 11,
                vivid_dreams=offset % 4 == 0,
                headache=offset % 9 == 0,
                dose_taken=True if treatment else None,
                # (her last entry's 45 raises a low_tolerability alert)
                tolerability=(45 if offset == 39 else 80 + offset % 20) if treatment else None,
                notes="Tired after work" if offset % 10 == 0 else "",
                late=offset % 13 == 0,
            )
        # Clinic visits: a screening visit, the end of baseline, and two in treatment
        # (day 20 is LDN in arm A and placebo in arm B), one of them voided.
        for offset, esr, voided in (
            (-7, 31, False),
            (13, 28, False),
            (19, 25, True),
            (20, 22, False),
        ):
            VisitFactory(
                enrollment=enrollment,
                visit_date=START + dt.timedelta(days=offset),
                esr=esr,
                pressure_threshold=Decimal("3.1") + offset // 10,
                heat_threshold=None if offset == 13 else Decimal("43.5"),
                notes="Algometer recalibrated" if offset == 20 else "",
                voided=voided,
                void_reason="Entered twice" if voided else "",
            )
        # A question on a treatment day (LDN in arm A, placebo in arm B), answered.
        query = queries.raise_query(
            enrollment,
            physician,
            text="Was the pain of this day right?",
            date=START + dt.timedelta(days=20),
        )
        queries.answer_query(query, enrollment.patient, "Yes, a bad day")
        enrollments.append(enrollment)
    alerts.run()  # before any page is read: the alerts are part of what both show
    return enrollments


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response) -> str:
    assert response.status_code == 200, (response.status_code, response.request)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def without_csrf(text: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrf"', text)


def patient_pages(enrollment) -> dict[str, str]:
    """Everything the patient herself can open, and her reminder e-mail."""
    client = client_for(enrollment.patient)
    urls = [
        "/diary/",
        "/diary/history/",
        "/diary/settings/",
        f"/diary/{TODAY - dt.timedelta(days=1):%Y-%m-%d}/",  # still open
        f"/diary/{TODAY - dt.timedelta(days=20):%Y-%m-%d}/",  # locked, in treatment
        f"/diary/{TODAY - dt.timedelta(days=35):%Y-%m-%d}/",  # locked, in baseline
        "/diary/questions/",
    ]
    pages = {url: body(client.get(url)) for url in urls}
    for query in DataQuery.objects.filter(enrollment=enrollment):
        pages["question"] = body(client.get(f"/diary/questions/{query.pk}/"))
    message = reminders.reminder_message(Enrollment.objects.get(pk=enrollment.pk), TODAY)
    pages["reminder e-mail"] = "\n".join(
        [message.subject, message.body, *(f"{k}: {v}" for k, v in message.extra_headers.items())]
    )
    return pages


def patient_detail_pages(reader, enrollment) -> dict[str, str]:
    client = client_for(reader)
    base = f"/physician/patients/{enrollment.study_id}"
    pages = {"patient page": body(client.get(f"{base}/"))}
    # The phase reviews (what a signature covers), as far as the schedule goes.
    for order in (1, 2, 3):
        pages[f"review {order}"] = body(client.get(f"{base}/phases/{order}/review/"))
    # Her queries, and raising one on a treatment day.
    for query in DataQuery.objects.filter(enrollment=enrollment):
        pages["query"] = body(client.get(f"/physician/queries/{query.pk}/"))
    day = START + dt.timedelta(days=21)
    pages["new query"] = body(client.get(f"{base}/queries/new/?date={day}"))
    pages["queries of hers"] = body(client.get(f"/physician/queries/?q={enrollment.study_id}"))
    return pages


def staff_pages_about(reader, enrollment) -> dict[str, str]:
    """The admin pages of one enrollment, for a coordinator."""
    client = client_for(reader)
    base = f"/admin/diary/enrollment/{enrollment.pk}"
    urls = {
        "admin list": f"/admin/diary/enrollment/?q={enrollment.study_id}",
        "change page": f"{base}/change/",
        "history": f"{base}/history/",
        "audit trail": f"{base}/audit/",
        "audit trail csv": f"{base}/audit.csv",
    }
    return {key: body(client.get(url)) for key, url in urls.items()}


def rows_about(page: str, enrollment) -> list[str]:
    """The table rows of a physician page that are about `enrollment`."""
    link = f'<a href="/physician/patients/{enrollment.study_id}/">'
    return re.findall(rf'<tr>\s*<th scope="row"[^>]*>{link}.*?</tr>', page, re.DOTALL)


def list_row(reader, enrollment, url="/physician/") -> str:
    (row,) = rows_about(body(client_for(reader).get(url)), enrollment)
    return row


def glance_rows(reader, enrollment) -> dict[str, str]:
    """Her row on the patient list (sorted by phase too), the calendar and the alerts."""
    alert_page = body(client_for(reader).get(f"/physician/alerts/?q={enrollment.study_id}"))
    return {
        "list row": list_row(reader, enrollment),
        "list row by phase": list_row(reader, enrollment, "/physician/?sort=phase"),
        "calendar row": list_row(reader, enrollment, "/physician/calendar/"),
        # (an alert's own id is an identifier, like the study ID)
        "alerts": re.sub(
            r"(/alerts/|note-)\d+", r"\1N", "".join(rows_about(alert_page, enrollment))
        ),
    }


def anonymize(text: str, enrollment) -> str:
    """The side-by-side comparison: one patient's identifiers replaced by placeholders."""
    text = without_csrf(text)
    text = text.replace(enrollment.study_id, "FM-?")
    text = text.replace(enrollment.patient.username, "pat-?")
    # Her account's id, which her phone keeps with answers saved offline
    text = re.sub(
        rf'(data-owner="|name="offline_owner" value="){enrollment.patient_id}"', r'\1N"', text
    )
    text = re.sub(
        rf"/(enrollment|user)/({enrollment.pk}|{enrollment.patient_id})/", r"/\1/N/", text
    )
    text = text.replace(f'name="_selected_action" value="{enrollment.pk}"', "ROW")
    text = re.sub(r"/history/\d+/", "/history/N/", text)  # a history row's id
    # Her clinic visits' ids (links to correct or void one, anchors)
    text = re.sub(r"/visits/\d+/", "/visits/N/", text)
    text = re.sub(r"\?visit=\d+", "?visit=N", text)  # raise a query on a visit
    text = re.sub(r"/(queries|questions)/\d+/", r"/\1/N/", text)  # a query's id
    text = re.sub(r"(query |Query |query: |>)#\d+", r"\1#N", text)
    text = re.sub(r'id="visit-\d+"', 'id="visit-N"', text)
    text = re.sub(r"/reminders/[^/\s>]+/", "/reminders/TOKEN/", text)
    text = re.sub(r"(&lt;|<)https?://\S+/reminders/TOKEN/(&gt;|>)", "<LINK>", text)
    return text


def assert_same(first: dict, second: dict, prepare=without_csrf):
    assert first.keys() == second.keys()
    for key in first:
        assert prepare(first[key]) == prepare(second[key]), key


def side_by_side(render, x, y):
    """render(enrollment) for both patients, identifiers replaced, must be identical."""
    first = {k: anonymize(v, x) for k, v in render(x).items()}
    second = {k: anonymize(v, y) for k, v in render(y).items()}
    for key in first:
        assert first[key] == second[key], key
        assert leaks(first[key]) == [], key


def swap_arms(x, y):
    x_arm, y_arm = x.arm_id, y.arm_id
    Enrollment.objects.filter(pk=x.pk).update(arm_id=y_arm)
    Enrollment.objects.filter(pk=y.pk).update(arm_id=x_arm)


def command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def whole_study_files(coordinator) -> dict[str, str]:
    """Everything about the two patients together: lists, cohort and blinded files."""
    client = client_for(coordinator)
    urls = [
        "/physician/",
        "/physician/?sort=phase",
        "/physician/calendar/",
        "/physician/alerts/",
        "/physician/cohort/",
        "/admin/diary/enrollment/",
        "/admin/diary/enrollment/?phase=treatment",
        "/admin/diary/auditevent/",
        "/exports/?what=entries.csv&protocol=ldn-fm-2013",
        "/exports/?what=summaries.csv&protocol=ldn-fm-2013",
        "/exports/?what=summaries.json&protocol=ldn-fm-2013",
        "/exports/?what=visits.csv&protocol=ldn-fm-2013",
        "/exports/?what=signatures.csv&protocol=ldn-fm-2013",
        "/exports/?what=queries.csv&protocol=ldn-fm-2013",
        "/physician/queries/",
        "/physician/queries/?target=entry&status=answered",
        "/exports/?what=fhir.json&protocol=ldn-fm-2013",
        "/admin/diary/visit/",
    ]
    pages = {url: body(client.get(url)) for url in urls}
    pages["export_entries"] = command("export_entries")
    pages["export_summaries json"] = command("export_summaries", "--format", "json")
    pages["export_summaries csv"] = command("export_summaries", "--format", "csv")
    pages["export_visits"] = command("export_visits")
    pages["export_signatures"] = command("export_signatures")
    pages["export_queries"] = command("export_queries")
    return pages


# Two patients side by side -----------------------------------------------------------


def test_a_blinded_patient_cannot_tell_the_arms_apart(pair):
    x, y = pair
    side_by_side(patient_pages, x, y)
    assert "Treatment, day 27 of 112" in patient_pages(x)["/diary/"]


def test_a_blinded_physician_cannot_tell_the_arms_apart(pair, physician):
    x, y = pair
    side_by_side(lambda e: patient_detail_pages(physician, e), x, y)
    side_by_side(lambda e: glance_rows(physician, e), x, y)
    page = patient_detail_pages(physician, x)["patient page"]
    assert "Treatment, day 27" in page and ">Blinded<" in page
    assert "low_tolerability" in glance_rows(physician, x)["alerts"]


def test_a_blinded_coordinator_cannot_tell_the_arms_apart(pair):
    x, y = pair
    coordinator = CoordinatorFactory()
    side_by_side(lambda e: patient_detail_pages(coordinator, e), x, y)
    side_by_side(lambda e: glance_rows(coordinator, e), x, y)
    side_by_side(lambda e: staff_pages_about(coordinator, e), x, y)


def test_blinded_files_show_the_two_patients_alike(pair):
    x, y = pair
    lines = command("export_entries").splitlines()
    rows_x = [line.replace("FM-X", "FM-?") for line in lines if line.startswith("FM-X,")]
    rows_y = [line.replace("FM-Y", "FM-?") for line in lines if line.startswith("FM-Y,")]
    assert rows_x == rows_y and len(rows_x) == 34
    assert {row.split(",")[3] for row in rows_x} == {"Baseline", "Treatment"}
    lines = command("export_summaries", "--format", "csv").splitlines()
    rows_x = [line.replace(",FM-X,", ",FM-?,") for line in lines if ",FM-X," in line]
    rows_y = [line.replace(",FM-Y,", ",FM-?,") for line in lines if ",FM-Y," in line]
    assert rows_x == rows_y and len(rows_x) == 3


# Arms swapped ------------------------------------------------------------------------


def test_swapping_the_arms_changes_nothing_a_blinded_reader_sees(pair, physician):
    x, y = pair
    coordinator = CoordinatorFactory()

    def everything():
        pages = {}
        for enrollment in (x, y):
            for key, page in patient_pages(enrollment).items():
                pages[f"{enrollment.study_id} patient {key}"] = page
            for reader in (physician, coordinator):
                for key, page in patient_detail_pages(reader, enrollment).items():
                    pages[f"{enrollment.study_id} {reader.username} {key}"] = page
            for key, page in staff_pages_about(coordinator, enrollment).items():
                pages[f"{enrollment.study_id} admin {key}"] = page
        for key, page in whole_study_files(coordinator).items():
            pages[f"study {key}"] = page
        pages["physician cohort"] = body(client_for(physician).get("/physician/cohort/"))
        return pages

    before = everything()
    swap_arms(x, y)
    after = everything()
    assert_same(before, after)
    for key, page in before.items():
        assert leaks(page) == [], key

    # The same pages do differ for someone with allocation access: the test can see it.
    statistician = CoordinatorFactory(allocation_access=True)
    seen = body(client_for(statistician).get(f"/physician/patients/{x.study_id}/"))
    swap_arms(x, y)
    assert seen != body(client_for(statistician).get(f"/physician/patients/{x.study_id}/"))


def test_unblinding_the_care_team_leaves_the_patient_blinded(pair):
    x, y = pair
    statistician = CoordinatorFactory(allocation_access=True)
    unblinding.unblind_care_team(x, by=statistician, reason="Emergency admission")
    side_by_side(patient_pages, x, y)
    before = {k: v for e in pair for k, v in patient_pages(e).items()}
    swap_arms(x, y)
    assert_same(before, {k: v for e in pair for k, v in patient_pages(e).items()})
    # Her physician now sees her arm, and only hers.
    physician_page = patient_detail_pages(x.physician, x)["patient page"]
    assert leaks(physician_page)
    assert leaks(patient_detail_pages(y.physician, y)["patient page"]) == []


def test_unblinding_the_protocol_tells_no_patient_still_in_treatment(pair):
    x, y = pair
    statistician = CoordinatorFactory(allocation_access=True)
    unblinding.unblind_protocol(x.protocol, by=statistician, reason="Database locked")
    side_by_side(patient_pages, x, y)
    assert leaks(patient_detail_pages(x.physician, x)["patient page"])


# Who is blinded ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol_blinding", "patient", "physician", "coordinator", "file"),
    [
        ("open", False, False, False, False),
        ("single", True, False, False, False),
        ("double", True, True, True, True),
    ],
)
def test_who_is_blinded(protocol_blinding, patient, physician, coordinator, file):
    enrollment = EnrollmentFactory()
    enrollment.protocol.blinding = protocol_blinding
    protocol = enrollment.protocol

    def blinded(reader):
        return blinding.is_blinded(reader, protocol, enrollment)

    assert blinded(enrollment.patient) is patient
    assert blinded(enrollment.physician) is physician
    assert blinded(CoordinatorFactory()) is coordinator
    assert blinded(CoordinatorFactory(is_superuser=True)) is coordinator
    assert blinded(blinding.BLINDED_FILE) is file
    assert blinded(CoordinatorFactory(allocation_access=True)) is False
    assert blinded(blinding.UNBLINDED_FILE) is False
    # Allocation access needs an active staff account.
    assert blinded(PhysicianFactory(allocation_access=True)) is physician
    assert blinded(CoordinatorFactory(allocation_access=True, is_active=False)) is patient


def test_each_unblinding_reaches_only_its_readers():
    enrollment = EnrollmentFactory()
    protocol = enrollment.protocol
    coordinator = CoordinatorFactory()
    readers = [enrollment.patient, enrollment.physician, coordinator, blinding.BLINDED_FILE]

    def blinded():
        return [blinding.is_blinded(r, protocol, enrollment) for r in readers]

    assert blinded() == [True, True, True, True]
    enrollment.care_team_unblinded_at = NOW
    assert blinded() == [True, False, False, True]  # files follow the protocol
    enrollment.care_team_unblinded_at = None
    enrollment.patient_unblinded_at = NOW
    assert blinded() == [False, True, True, True]
    enrollment.patient_unblinded_at = None
    protocol.unblinded_at = NOW
    assert blinded() == [True, False, False, False]


# Telling patients ----------------------------------------------------------------------


def test_tell_the_patient_waits_for_the_end_of_her_treatment_unless_confirmed(pair):
    x, y = pair
    statistician = CoordinatorFactory(allocation_access=True)
    with pytest.raises(Exception, match="still in her treatment window"):
        unblinding.tell_patient(x, by=statistician, reason="She asked")
    x.refresh_from_db()
    assert x.patient_unblinded_at is None
    unblinding.tell_patient(x, by=statistician, reason="She asked", mid_treatment_confirmed=True)
    event = AuditEvent.objects.get(action="patient_told")
    assert (event.enrollment, event.reason, event.details["mid_treatment"]) == (
        x,
        "She asked",
        True,
    )
    page = body(client_for(x.patient).get("/diary/"))
    assert "LDN, day 27 of 84" in page
    history = body(client_for(x.patient).get("/diary/history/"))
    assert "Your study arm: A (Baseline → LDN → Placebo → Follow-up)." in history
    # Her physician is still blinded.
    assert leaks(patient_detail_pages(x.physician, x)["patient page"]) == []


def test_tell_the_patients_whose_treatment_has_ended(physician):
    statistician = CoordinatorFactory(allocation_access=True)
    arm = builtin_arm("ldn-fm-2013", "B")
    ended = EnrollmentFactory(arm=arm, start_date=TODAY - dt.timedelta(days=130))
    ongoing = EnrollmentFactory(arm=arm, start_date=TODAY - dt.timedelta(days=40))
    withdrawn = EnrollmentFactory(
        arm=arm,
        start_date=TODAY - dt.timedelta(days=40),
        status="withdrawn",
        withdrawn_on=TODAY - dt.timedelta(days=3),
    )
    told = unblinding.tell_patients_whose_treatment_ended(
        arm.protocol, by=statistician, reason="Study results letter"
    )
    assert sorted(told) == sorted([ended.study_id, withdrawn.study_id])
    ongoing.refresh_from_db()
    assert ongoing.patient_unblinded_at is None
    assert AuditEvent.objects.filter(action="patient_told").count() == 2
    assert "Placebo" in body(client_for(ended.patient).get("/diary/history/"))


# Allocation access ----------------------------------------------------------------------


def test_unblinding_and_allocation_pages_are_refused_without_allocation_access(client, pair):
    x, _ = pair
    protocol = x.protocol
    for user in (CoordinatorFactory(), CoordinatorFactory(is_superuser=True)):
        client.force_login(user)
        for url in [
            f"/admin/diary/enrollment/{x.pk}/unblind/",
            f"/admin/diary/enrollment/{x.pk}/tell-patient/",
            f"/admin/diary/protocol/{protocol.pk}/unblind/",
            f"/admin/diary/protocol/{protocol.pk}/tell-patients/",
            f"/admin/diary/protocol/{protocol.pk}/randomization-list/",
        ]:
            assert client.get(url).status_code == 403, url
            assert client.post(url, {"reason": "Curious"}).status_code == 403, url
        page = client.get(f"/admin/diary/protocol/{protocol.pk}/change/").content.decode()
        assert protocol.randomization_seed not in page
        assert "Unblind protocol</a>" not in page and "Randomization list" not in page
        page = client.get(f"/admin/diary/enrollment/{x.pk}/change/").content.decode()
        assert "Unblind the care team" not in page and "Tell the patient" not in page
        assert "Blinded (concealed allocation)" in page
        history = client.get(f"/admin/diary/protocol/{protocol.pk}/history/").content.decode()
        assert protocol.randomization_seed not in history
    x.refresh_from_db()
    protocol.refresh_from_db()
    assert (x.care_team_unblinded_at, x.patient_unblinded_at, protocol.unblinded_at) == (
        None,
        None,
        None,
    )
    # (the pair's questions are the only events: nothing was unblinded)
    assert not AuditEvent.objects.exclude(action__startswith="query_").exists()


def test_allocation_access_sees_arms_seed_and_list(client, pair):
    x, _ = pair
    protocol = x.protocol
    client.force_login(CoordinatorFactory(allocation_access=True))
    page = client.get(f"/admin/diary/protocol/{protocol.pk}/change/").content.decode()
    assert protocol.randomization_seed in page and "Randomization list" in page
    page = client.get(f"/admin/diary/enrollment/{x.pk}/change/").content.decode()
    assert "A (assigned directly, not randomized)" in page
    assert "Unblind the care team for this patient" in page and "Tell the patient" in page
    page = client.get("/admin/diary/enrollment/").content.decode()
    assert '<td class="field-arm">A</td>' in page


def test_uploading_a_randomization_list_in_the_admin(client):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    client.force_login(CoordinatorFactory(allocation_access=True))
    url = f"/admin/diary/protocol/{protocol.pk}/randomization-list/"
    bad = StringIO("sequence,arm\n1,A\n2,Z\n")
    bad.name = "list.csv"
    response = client.post(url, {"file": bad})
    assert response.status_code == 400
    assert 'line 3: arm "Z" is not an arm of ldn-fm-2013 (A, B)' in html.unescape(
        response.content.decode()
    )
    good = StringIO("sequence,arm\n1,B\n2,A\n")
    good.name = "list.csv"
    response = client.post(url, {"file": good}, follow=True)
    assert "2 row(s) added to the randomization list of ldn-fm-2013" in response.content.decode()
    event = AuditEvent.objects.get(action="randomization_list")
    assert event.details == {
        "file": "list.csv",
        "rows added": 2,
        "rows already there": 0,
        "replaced": False,
    }


def test_history_pages_hide_a_changed_arm_and_seed_from_blinded_readers(client, pair):
    x, y = pair
    x.arm = y.arm  # a correction made by someone with allocation access
    x._change_reason = "Allocation corrected"
    x.save()
    protocol = x.protocol
    old_seed = protocol.randomization_seed
    protocol.randomization_seed = "a-new-secret-seed-0123456789"
    protocol._change_reason = "Seed replaced"
    protocol.save()
    for user in (CoordinatorFactory(), CoordinatorFactory(is_superuser=True)):
        client.force_login(user)
        history = client.get(f"/admin/diary/enrollment/{x.pk}/history/").content.decode()
        assert "Allocation corrected" in history
        assert "arm" not in re.sub(r"<[^>]+>", " ", history).split("Allocation corrected")[0][-400:]
        assert ">A<" not in history and ">B<" not in history and "ldn-fm-2013 / B" not in history
        history = client.get(f"/admin/diary/protocol/{protocol.pk}/history/").content.decode()
        assert "Seed replaced" in history
        assert old_seed not in history and protocol.randomization_seed not in history
    client.force_login(CoordinatorFactory(allocation_access=True))
    history = client.get(f"/admin/diary/enrollment/{x.pk}/history/").content.decode()
    assert "Arm" in history or "arm" in history
