"""import_visits, the command and the web import: the whole file is checked against the
visit rules first, every problem is one "line N: ..." line naming the column, then all
of it is loaded (source import, a history row each) or nothing; re-imports change
nothing; a stored visit is never overwritten."""

import datetime as dt
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from diary.audit.models import shell_actor
from diary.files import imports
from diary.files.imports import visits as visits_module
from diary.files.imports.jobs import BY_KEY
from diary.jobs.models import Job, JobStatus
from diary.visits.models import Visit
from tests.factories import CoordinatorFactory, EnrollmentFactory, VisitFactory, builtin_arm

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
# Noon in Los Angeles on 2026-03-10.
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)

HEADER = "study_id,visit_date,esr,pressure_threshold,heat_threshold,notes\n"
GOOD = (
    HEADER + "FM-001,2026-01-20,32,3.5,44.0,Screening\n"
    "FM-001,2026-02-15,18,4.1,45.5,\n"
    'FM-001,2026-03-10,,,,"Measures not done, patient late"\n'
)


@pytest.fixture
def enrollment():
    """ldn-fm-2013 arm A from 2026-02-01 (today, 2026-03-10, is in its LDN phase)."""
    return EnrollmentFactory(
        study_id="FM-001", arm=builtin_arm("ldn-fm-2013", "A"), start_date=dt.date(2026, 2, 1)
    )


def write(tmp_path, text, name="visits.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def state():
    return Visit.objects.count(), Visit.history.count()


def run(path):
    out, err = StringIO(), StringIO()
    call_command("import_visits", path, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def fails(path):
    """Run the command on a file that must fail: exit code 1, nothing changed, every
    problem one line on stderr (returned)."""
    before = state()
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_visits", path, stdout=StringIO(), stderr=err)
    assert state() == before
    problems = err.getvalue().splitlines()
    count = len(problems)
    assert str(failure.value) == (
        f"Nothing was imported: {count} problem{'s' if count > 1 else ''} in {path}."
    )
    assert failure.value.returncode == 1
    return problems


def test_a_good_file_is_loaded_with_source_import_and_a_history_row(tmp_path, enrollment):
    assert run(write(tmp_path, GOOD)) == "Imported 3 visits (0 already present, unchanged).\n"
    screening, ldn, today = Visit.objects.order_by("visit_date")
    assert (screening.visit_date, screening.esr, screening.notes) == (
        dt.date(2026, 1, 20),
        32,
        "Screening",
    )
    assert screening.pressure_threshold == Decimal("3.5")
    assert isinstance(screening.pressure_threshold, Decimal)
    assert (ldn.esr, ldn.pressure_threshold, ldn.heat_threshold) == (
        18,
        Decimal("4.1"),
        Decimal("45.5"),
    )
    assert (today.esr, today.pressure_threshold, today.heat_threshold) == (None, None, None)
    assert today.notes == "Measures not done, patient late"
    for visit in (screening, ldn, today):
        assert (visit.enrollment, visit.source, visit.voided) == (enrollment, "import", False)
        history = visit.history.get()
        assert (history.history_type, history.history_change_reason) == (
            "+",
            f"Imported from visits.csv by {shell_actor()}",
        )
        assert history.history_user is None


def test_one_visit_is_counted_in_the_singular(tmp_path, enrollment):
    path = write(tmp_path, HEADER + "FM-001,2026-02-15,18,,,\n")
    assert run(path) == "Imported 1 visit (0 already present, unchanged).\n"


def test_reimporting_changes_nothing(tmp_path, enrollment):
    path = write(tmp_path, GOOD)
    run(path)
    before = state()
    assert run(path) == "Imported 0 visits (3 already present, unchanged).\n"
    assert state() == before


def test_the_function_names_the_importer_and_the_file(tmp_path, enrollment):
    coordinator = CoordinatorFactory(username="coord")
    path = write(tmp_path, GOOD, "tmp123.csv")
    checked = imports.import_visits(path, by=coordinator, file_name="clinic.csv", check_only=True)
    assert (checked.created, checked.unchanged, Visit.objects.count()) == (3, 0, 0)
    outcome = imports.import_visits(path, by=coordinator, file_name="clinic.csv")
    assert (outcome.created, outcome.unchanged) == (3, 0)
    for visit in Visit.objects.all():
        history = visit.history.get()
        assert history.history_change_reason == "Imported from clinic.csv by coord"
        assert history.history_user == coordinator


def test_only_study_id_and_visit_date_are_required_columns(tmp_path, enrollment):
    run(write(tmp_path, "visit_date,study_id,esr\n2026-02-15,FM-001,40\n"))
    visit = Visit.objects.get()
    assert (visit.esr, visit.pressure_threshold, visit.heat_threshold, visit.notes) == (
        40,
        None,
        None,
        "",
    )


def test_header_problems_are_reported_as_the_other_imports_do(tmp_path, enrollment):
    assert fails(write(tmp_path, "study_id,esr,colour\nFM-001,3,red\n")) == [
        "line 1: missing column(s): visit_date",
        "line 1: unknown column(s): colour; the columns are study_id, visit_date "
        "(optional: esr, pressure_threshold, heat_threshold, notes)",
    ]


@pytest.fixture
def others():
    """FM-002 withdrew on 2026-02-20; FM-003's schedule ended long ago."""
    withdrawn = EnrollmentFactory(
        study_id="FM-002",
        arm=builtin_arm("ldn-fm-2013", "A"),
        start_date=dt.date(2026, 2, 1),
        status="withdrawn",
        withdrawn_on=dt.date(2026, 2, 20),
    )
    ended = EnrollmentFactory(
        study_id="FM-003", arm=builtin_arm("ldn-fm-2013", "A"), start_date=dt.date(2025, 1, 6)
    )
    return withdrawn, ended


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("FM-001,2026-02-15,151,,,", "esr 151 is out of range: a whole number from 0 to 150 mm/h"),
        (
            "FM-001,2026-02-15,,,29.9,",
            "heat_threshold 29.9 is out of range: a number with one decimal from 30.0 to 52.0 °C",
        ),
        (
            "FM-001,2026-02-15,,3.25,,",
            "pressure_threshold 3.25 has too many decimals: write it with at most one decimal",
        ),
        ("FM-001,2026-02-15,12.5,,,", "esr 12.5 has too many decimals: write it with no decimals"),
        ("FM-001,2026-02-15,abc,,,", 'esr "abc" is not a number: write a whole number from'),
        ("FM-001,2026-02-15,,3,5,", "heat_threshold 5 is out of range"),
        (
            "FM-001,2026-01-03,,,,",
            "visit_date 2026-01-03 is more than 28 days before FM-001's start (2026-02-01); "
            "the earliest is 2026-01-04",
        ),
        ("FM-001,2026-03-11,,,,", "visit_date 2026-03-11 is in the future (today is 2026-03-10"),
        (
            "FM-002,2026-02-21,,,,",
            "visit_date 2026-02-21 is after FM-002's withdrawal (2026-02-20)",
        ),
        ("FM-003,2026-03-01,,,,", "visit_date 2026-03-01 is after the end of FM-003's schedule"),
        ("FM-999,2026-02-15,,,,", 'unknown study ID "FM-999"'),
        ("fm-001,2026-02-15,,,,", 'unknown study ID "fm-001" (did you mean FM-001?)'),
        (",2026-02-15,,,,", "study_id is required"),
        ("FM-001,15/02/2026,,,,", 'visit_date "15/02/2026" is not a date in YYYY-MM-DD form'),
        ("FM-001,2026-02-30,,,,", 'visit_date "2026-02-30" is not a date in YYYY-MM-DD form'),
        ("FM-001,,,,,", "visit_date is required (YYYY-MM-DD)"),
        ("FM-001,1999-12-31,,,,", "visit_date"),
        ("FM-001,2026-02-15,,,," + "x" * 1001, "notes are 1001 characters long; at most 1000"),
    ],
)
def test_every_bad_cell_is_a_line_problem_and_nothing_is_loaded(
    tmp_path, enrollment, others, row, message
):
    problems = fails(write(tmp_path, f"{HEADER}FM-001,2026-02-14,20,,,\n{row}\n"))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"line 3: {message}"), problems


def test_notes_of_1000_characters_with_line_breaks_are_accepted(tmp_path, enrollment):
    notes = "a\r\n" + "b" * 998  # the line break counts as one character
    run(write(tmp_path, f'{HEADER}FM-001,2026-02-15,,,,"{notes}"\n'))
    assert Visit.objects.get().notes == "a\n" + "b" * 998


def test_a_second_visit_on_the_same_date_in_the_file(tmp_path, enrollment):
    path = write(tmp_path, f"{HEADER}FM-001,2026-02-15,20,,,\nFM-001,2026-02-15,20,,,\n")
    assert fails(path) == ["line 3: FM-001 2026-02-15 appears again (first on line 2)"]


def test_a_stored_visit_is_skipped_when_equal_and_refused_when_different(tmp_path, enrollment):
    VisitFactory(
        enrollment=enrollment,
        visit_date=dt.date(2026, 2, 15),
        esr=18,
        pressure_threshold=Decimal("4.1"),
        heat_threshold=Decimal("45.5"),
    )
    same = write(tmp_path, HEADER + "FM-001,2026-02-15,18,4.10,45.5,\n")
    assert run(same) == "Imported 0 visits (1 already present, unchanged).\n"
    different = write(tmp_path, HEADER + "FM-001,2026-02-14,1,,,\nFM-001,2026-02-15,19,4.1,,\n")
    assert fails(different) == [
        "line 3: FM-001 already has a visit on 2026-02-15 with other values; correct it in "
        "the admin (esr: 18 stored, 19 in the file; heat_threshold: 45.5 stored, blank in "
        "the file)"
    ]


def test_a_voided_visit_leaves_its_date_free(tmp_path, enrollment):
    VisitFactory(
        enrollment=enrollment, visit_date=dt.date(2026, 2, 15), voided=True, void_reason="wrong"
    )
    run(write(tmp_path, HEADER + "FM-001,2026-02-15,18,,,\n"))
    assert Visit.objects.counting().get().esr == 18


def test_a_visit_recorded_between_check_and_load_makes_the_load_refuse_all(
    tmp_path, enrollment, monkeypatch
):
    # The physician records 2026-02-15 on the form after the file was checked and
    # before it is loaded: the database refuses the second counting visit, nothing is kept.
    checked = visits_module._fail_if_any

    def then_recorded(rows, problems):
        checked(rows, problems)
        VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 2, 15), esr=1)

    monkeypatch.setattr(visits_module, "_fail_if_any", then_recorded)
    with pytest.raises(imports.ImportFailed) as failure:
        imports.import_visits(write(tmp_path, GOOD))
    assert failure.value.problems[0].startswith("the database refused the data")
    assert list(Visit.objects.values_list("esr", flat=True)) == [1]


def test_every_problem_of_every_row_is_listed_in_line_order(tmp_path, enrollment):
    path = write(
        tmp_path,
        HEADER + "FM-001,2026-02-15,abc,99,,\nFM-404,2026-02-16,,,,\nFM-001,2026-02-15,,,,\n",
    )
    problems = fails(path)
    assert [problem.split(":")[0] for problem in problems] == ["line 2"] * 2 + ["line 3"] + [
        "line 4"
    ]
    assert problems[0].startswith('line 2: esr "abc" is not a number')
    assert problems[1].startswith("line 2: pressure_threshold 99 is out of range")


def test_the_number_of_queries_does_not_grow_with_the_file(tmp_path):
    arm = builtin_arm("ldn-fm-2013", "A")
    enrollments = [
        EnrollmentFactory(study_id=f"FM-{n:03d}", arm=arm, start_date=dt.date(2026, 2, 1))
        for n in range(1, 11)
    ]
    VisitFactory(enrollment=enrollments[0], visit_date=dt.date(2026, 2, 1))

    def count(rows: int, name: str) -> int:
        lines = [
            f"FM-{1 + n % 10:03d},{dt.date(2026, 2, 2) + dt.timedelta(days=n // 10)},{n % 150},"
            f"{n % 15}.5,44.0,visit {n}"
            for n in range(rows)
        ]
        path = write(tmp_path, HEADER + "\n".join(lines) + "\n", name)
        with CaptureQueriesContext(connection) as queries:
            outcome = imports.import_visits(path)
        assert outcome.created == rows
        return [query["sql"] for query in queries.captured_queries]

    def lookups(queries):
        return [sql for sql in queries if not sql.startswith("INSERT")]

    small = count(10, "small.csv")
    Visit.objects.exclude(visit_date=dt.date(2026, 2, 1)).delete()
    Visit.history.all().delete()
    large = count(200, "large.csv")
    # The lookups (enrollments, their protocols' arms and phases, the stored visits) and
    # the transaction are the same; the visits and their history rows are inserted in
    # bulk: one statement each on PostgreSQL. SQLite takes at most 999 parameters a
    # query, so Django splits a bulk insert there (about 90 visits a statement).
    assert len(lookups(large)) == len(lookups(small)) == 7  # + signed enrollments
    if connection.vendor == "postgresql":
        assert len(large) == len(small)
    else:
        assert len(large) - len(lookups(large)) <= 8
    assert Visit.objects.count() == 201


# The web import --------------------------------------------------------------------


@pytest.fixture
def inline_jobs(settings):
    settings.JOBS_RUN_INLINE = True


@pytest.fixture
def coordinator(client):
    user = CoordinatorFactory(username="coord")
    client.force_login(user)
    return user


def upload(client, text, capture, name="visits.csv"):
    with capture(execute=True):
        response = client.post(
            reverse("diary:import_upload", args=["visits"]),
            {"file": SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    check = response["Location"].rstrip("/").rsplit("/", 1)[1]
    return check, client.get(response["Location"])


def test_the_web_import_previews_then_loads_the_visits(
    client, coordinator, enrollment, inline_jobs, django_capture_on_commit_callbacks
):
    assert BY_KEY["visits"].label == "Clinic visits"
    page = client.get(reverse("diary:imports"))
    assert reverse("diary:import_upload", args=["visits"]) in page.content.decode()

    bad = HEADER + "FM-001,2026-02-15,151,,,\nFM-001,2026-03-11,,,,\n"
    _, page = upload(client, bad, django_capture_on_commit_callbacks)
    text = page.content.decode()
    assert page.status_code == 200
    assert "2 rows, 2 problems." in text
    assert "line 2: esr 151 is out of range" in text
    assert "line 3: visit_date 2026-03-11 is in the future" in text
    assert 'id="import-button"' not in text

    check, page = upload(client, GOOD, django_capture_on_commit_callbacks, "clinic.csv")
    text = page.content.decode()
    assert "3 rows, no problems. 3 to add, 0 already present" in text
    assert 'id="import-button"' in text
    assert not Visit.objects.exists()  # the check writes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("diary:import_start", args=[check]))
    assert response.status_code == 302
    page = client.get(response["Location"])
    job = Job.objects.get(kind="import-load")
    assert job.status == JobStatus.DONE
    assert "Imported 3 rows" in page.content.decode()
    assert Visit.objects.filter(enrollment=enrollment, source="import").count() == 3
    history = Visit.objects.get(visit_date=dt.date(2026, 2, 15)).history.get()
    assert history.history_change_reason == "Imported from clinic.csv by coord"
    assert history.history_user == coordinator
