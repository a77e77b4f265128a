"""The imports' less trodden paths: the entries written a chunk at a time, the PostgreSQL
writer against the portable one, without history, and a history model it does not know;
the rows and files that only these tests bring (tests/files/test_imports.py has the rest)."""

import csv
import datetime as dt
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from diary.audit.models import AuditAction, AuditEvent, shell_actor
from diary.entries.models import DiaryEntry
from diary.files import imports
from diary.files.imports import writing
from diary.trial.models import Enrollment, Protocol, RandomizationSlot
from tests.factories import (
    ArmFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    ProtocolFactory,
    builtin_arm,
    make_arm,
)
from tests.files.test_imports import (
    ENROLLMENT_HEADER,
    ENTRY_HEADER,
    NOW,
    USER_HEADER,
    fails,
    run,
    state,
    write,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL's entry writer (CI runs it)"
)


@pytest.fixture
def drx():
    return PhysicianFactory(username="drx", email="drx@example.org")


def enroll(study_id):
    """ldn-fm-2013 arm A from 2026-02-01: baseline Feb 1-14, LDN from Feb 15."""
    return EnrollmentFactory(
        study_id=study_id, arm=builtin_arm("ldn-fm-2013", "A"), start_date=dt.date(2026, 2, 1)
    )


def entry_rows(study_id, days):
    """Entry rows of `study_id`, one a day from 2026-02-12 (baseline days, then LDN
    days from 2026-02-15), the cells varying from day to day."""
    rows = StringIO()
    notes = ['said "fine", {a,b}', "back\\slash NULL", "", "línea\nuna ✓"]
    csv.writer(rows, lineterminator="\n").writerows(
        [
            study_id,
            (dt.date(2026, 2, 12) + dt.timedelta(days=n)).isoformat(),
            n % 11,
            (10 - n) % 11,
            5,
            "yes" if n % 2 else "no",
            "no" if n % 3 else "yes",
            *(("", "") if n < 3 else ("yes" if n % 2 else "", 10 * n % 100 if n % 2 else "")),
            notes[n % len(notes)],
        ]
        for n in range(days)
    )
    return rows.getvalue()


def stored(study_id):
    """The entries of `study_id` and their history rows, every field but the ids."""
    entries = DiaryEntry.objects.filter(enrollment__study_id=study_id).order_by("date")
    fields = [f.attname for f in DiaryEntry._meta.concrete_fields if f.attname != "id"]
    fields.remove("enrollment_id")
    history = DiaryEntry.history.filter(enrollment__study_id=study_id).order_by("date")
    history_fields = fields + ["history_date", "history_change_reason", "history_type"]
    return (
        list(entries.values_list(*fields)),
        list(history.values_list(*history_fields, "history_user_id")),
    )


# The entries' writer ------------------------------------------------------------------


@pytest.mark.parametrize("days", [4, 5])
def test_entries_are_written_a_chunk_at_a_time_and_every_one_arrives(tmp_path, monkeypatch, days):
    # Chunks of two: 4 rows fill two chunks exactly, 5 leave one row for the last.
    monkeypatch.setattr("diary.files.imports.writing.ENTRY_CHUNK", 2)
    enroll("FM-001")
    enroll("FM-002")
    path = write(tmp_path, ENTRY_HEADER + entry_rows("FM-001", days) + entry_rows("FM-002", 1))
    assert run("import_entries", path) == (
        f"Imported {days + 1} entries (0 already present, unchanged).\n"
    )
    entries = DiaryEntry.objects.filter(enrollment__study_id="FM-001").order_by("date")
    assert list(entries.values_list("date", "pain")) == [
        (dt.date(2026, 2, 12) + dt.timedelta(days=n), n) for n in range(days)
    ]
    history = stored("FM-001")[1]
    assert DiaryEntry.objects.filter(enrollment__study_id="FM-002").count() == 1
    assert [row[-4:] for row in history] == [
        (NOW, f"Imported from file.csv by {shell_actor()}", "+", None)
    ] * days
    # Imported twice: nothing more.
    assert run("import_entries", path) == (
        f"Imported 0 entries ({days + 1} already present, unchanged).\n"
    )


@needs_postgresql
def test_the_postgresql_writer_stores_what_the_portable_one_does(tmp_path, monkeypatch):
    # The same file for two enrollments alike: FM-001 written with model instances and
    # bulk_create_with_history (the writer of every other database), FM-002 with the
    # PostgreSQL statements. Entries and history rows come out the same, field by field.
    enroll("FM-001")
    enroll("FM-002")
    (tmp_path / "portable").mkdir()
    (tmp_path / "postgresql").mkdir()
    with monkeypatch.context() as patched:
        patched.setattr(writing._NewEntries, "for_database", staticmethod(writing._ModelEntries))
        path = write(tmp_path / "portable", ENTRY_HEADER + entry_rows("FM-001", 12))
        run("import_entries", path)
    run("import_entries", write(tmp_path / "postgresql", ENTRY_HEADER + entry_rows("FM-002", 12)))
    portable = stored("FM-001")
    assert len(portable[0]) == len(portable[1]) == 12
    assert stored("FM-002") == portable


def test_without_history_the_entries_are_written_alone(tmp_path, settings):
    enroll("FM-001")
    settings.SIMPLE_HISTORY_ENABLED = False
    path = write(tmp_path, ENTRY_HEADER + entry_rows("FM-001", 6))
    assert run("import_entries", path) == "Imported 6 entries (0 already present, unchanged).\n"
    assert DiaryEntry.objects.count() == 6
    assert not DiaryEntry.history.exists()


@needs_postgresql
def test_a_history_model_the_writer_does_not_fill_stops_the_import_before_writing(
    tmp_path, monkeypatch
):
    # As if the history model had a field more than the writer knows (history_user).
    monkeypatch.setattr(
        writing._PostgresEntries,
        "HISTORY_FIELDS",
        ["history_date", "history_change_reason", "history_type"],
    )
    enroll("FM-001")
    before = state()
    path = write(tmp_path, ENTRY_HEADER + entry_rows("FM-001", 2))
    with pytest.raises(ImproperlyConfigured) as refused:
        call_command("import_entries", path, stdout=StringIO(), stderr=StringIO())
    assert str(refused.value) == (
        "HistoricalDiaryEntry has the fields ['history_date', 'history_change_reason', "
        "'history_type', 'history_user']; diary.files.imports writes history rows for these "
        "only: history_date, history_change_reason, history_type"
    )
    assert state() == before


# Entry files --------------------------------------------------------------------------


def test_line_breaks_in_notes_are_stored_as_one_character(tmp_path):
    # As on the diary form: Windows (\r\n) and old Mac (\r) line breaks become \n.
    enroll("FM-001")
    path = tmp_path / "file.csv"
    path.write_bytes(
        ENTRY_HEADER.encode() + b'FM-001,2026-02-02,5,5,5,no,no,,,"one\r\ntwo\rthree\nfour"\r\n'
    )
    run("import_entries", str(path))
    entry = DiaryEntry.objects.get()
    assert entry.notes == "one\ntwo\nthree\nfour"
    assert entry.history.get().notes == "one\ntwo\nthree\nfour"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("FM-001,1999-12-31,5,5,5,no,no,,,", "line 2: date must be on or after 2000-01-01"),
        ("FM-001,,5,5,5,no,no,,,", "line 2: date is required (YYYY-MM-DD)"),
        (",2026-02-02,5,5,5,no,no,,,", "line 2: study_id is required"),
    ],
)
def test_an_entry_row_without_a_usable_day_or_study_id_is_refused(tmp_path, row, problem):
    enroll("FM-001")
    assert fails("import_entries", write(tmp_path, f"{ENTRY_HEADER}{row}\n")) == [problem]


def test_a_conflicting_entry_names_blank_and_yes_no_values_in_words(tmp_path):
    enrollment = enroll("FM-001")
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 2), headache=False, notes="")
    path = write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-02,5,5,5,no,yes,,,slept badly\n")
    assert fails("import_entries", path) == [
        "line 2: FM-001 already has an entry for 2026-02-02 with other values; correct it in "
        "the admin (headache: no stored, yes in the file; notes: blank stored, slept badly in "
        "the file)"
    ]


# Files that cannot be read as CSV ----------------------------------------------------

TOO_LONG = "x" * 131_073  # longer than a CSV cell may be (csv.field_size_limit())


def test_a_cell_too_long_for_csv_ends_the_reading_with_a_line_problem(tmp_path):
    enroll("FM-001")
    path = write(
        tmp_path,
        ENTRY_HEADER + "FM-001,2026-02-02,5,5,5,no,no,,,\n"
        f"FM-001,2026-02-03,5,5,5,no,no,,,{TOO_LONG}\n"
        "FM-001,2026-02-04,55,5,5,no,no,,,\n",
    )
    assert fails("import_entries", path) == [
        "line 3: cannot be read as CSV (field larger than field limit (131072))"
    ]


def test_a_header_cell_too_long_for_csv_is_a_problem_of_line_1(tmp_path):
    path = write(tmp_path, f"username,email,{TOO_LONG}\nann,ann@example.org,patient\n")
    assert fails("import_users", path) == [
        "line 1: cannot be read as CSV (field larger than field limit (131072))"
    ]


def test_a_blank_first_line_is_a_header_without_names(tmp_path):
    path = write(tmp_path, "\n" + USER_HEADER + "ann,ann@example.org,patient\n")
    assert fails("import_users", path) == [
        "line 1: column 1 has no name; the first line must name the columns: username, email, role",
        "line 1: missing column(s): username, email, role",
    ]


# Users and enrollments ----------------------------------------------------------------


def test_an_email_address_longer_than_an_account_holds_is_refused(tmp_path):
    email = "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".org"  # 260 characters
    path = write(tmp_path, f"{USER_HEADER}ann,{email},patient\n")
    assert fails("import_users", path) == [f'line 2: email "{email}" is too long']


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            "FM-100,ann,ann@example.org,DrX,ldn-fm-2013,,2026-02-01,,,",
            'line 2: physician "DrX" does not exist or is not a physician (did you mean "drx"?)',
        ),
        (
            "FM-100,Cat,,drx,ldn-fm-2013,,2026-02-01,,,",
            'line 2: username "Cat" differs only in case from the existing user "cat"; use the '
            "same spelling",
        ),
        ("FM-100,,,drx,ldn-fm-2013,,2026-02-01,,,", "line 2: username is required"),
        (",ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,", "line 2: study_id is required"),
        (
            "fm-001,cat,,drx,ldn-fm-2013,,2026-02-01,,,",
            'line 2: study ID "fm-001" differs only in case from the existing "FM-001"; use the '
            "same spelling",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,withdrawn,1999-12-31",
            "line 2: withdrawn_on must be on or after 2000-01-01",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,withdrawn,someday",
            'line 2: withdrawn_on "someday" is not a date in YYYY-MM-DD form',
        ),
    ],
)
def test_more_bad_enrollment_rows_are_reported_and_nothing_is_loaded(tmp_path, drx, row, problem):
    cat = PatientFactory(username="cat", email="cat@example.org")
    EnrollmentFactory(
        study_id="FM-001",
        patient=cat,
        physician=drx,
        arm=builtin_arm("ldn-fm-2013", "A"),
        start_date=dt.date(2026, 2, 1),
    )
    assert fails("import_enrollments", write(tmp_path, f"{ENROLLMENT_HEADER}{row}\n")) == [problem]


# Protocols named "empty" that cannot take an enrollment with a blank arm yet.


def protocol_without_arms():
    ProtocolFactory(slug="empty")


def protocol_with_an_arm_without_phases():
    ArmFactory(protocol=ProtocolFactory(slug="empty"), code="A")


def protocol_whose_arms_unblind():
    # Double blind, but the arms' schedules differ: anyone can tell them apart.
    protocol = ProtocolFactory(slug="empty", blinding="double")
    make_arm([("baseline", 14), ("ldn", 28)], code="A", protocol=protocol)
    make_arm([("baseline", 7), ("placebo", 28)], code="B", protocol=protocol)


def protocol_with_blocks_of_three_for_two_arms():
    protocol = ProtocolFactory(slug="empty", block_size=3)
    make_arm([("baseline", 14), ("ldn", 28)], code="A", protocol=protocol)
    make_arm([("baseline", 14), ("ldn", 28)], code="B", protocol=protocol)


@pytest.mark.parametrize(
    ("protocol", "problem"),
    [
        (protocol_without_arms, "empty has no arms; add them in the admin"),
        (
            protocol_with_an_arm_without_phases,
            "empty has an arm without phases; add them in the admin",
        ),
        (
            protocol_whose_arms_unblind,
            "empty cannot take enrollments yet: fix its arms in the admin",
        ),
        (
            protocol_with_blocks_of_three_for_two_arms,
            "arm is blank but empty cannot randomize (its block size is not a multiple of its "
            "arms); give the arm or fix the protocol in the admin",
        ),
    ],
)
def test_an_enrollment_into_a_protocol_not_ready_for_it_is_refused(
    tmp_path, drx, protocol, problem
):
    protocol()
    path = write(
        tmp_path, ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,empty,,2026-02-01,,,\n"
    )
    assert fails("import_enrollments", path) == [f"line 2: {problem}"]


def test_blank_arms_of_one_file_take_the_rows_of_the_list_left_in_turn(tmp_path, drx):
    # One row left on the list: the file's first blank arm takes it, the second finds
    # the list used up.
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    imports.import_randomization_list(write(tmp_path, "sequence,arm\n1,B\n", "list.csv"), protocol)
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-101,bea,bea@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n",
    )
    assert fails("import_enrollments", path) == [
        "line 3: arm is blank but the randomization list of ldn-fm-2013 is used up; upload "
        "more rows (allocation access) or give the arm"
    ]
    path = write(
        tmp_path, ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
    )
    run("import_enrollments", path)
    assert Enrollment.objects.get(study_id="FM-100").arm.code == "B"


# Randomization lists ------------------------------------------------------------------


def upload(tmp_path, text, **options):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    return imports.import_randomization_list(write(tmp_path, text, "list.csv"), protocol, **options)


def test_an_unused_list_is_replaced_whole(tmp_path):
    upload(tmp_path, "sequence,arm\n1,A\n2,B\n3,A\n")
    outcome = upload(tmp_path, "sequence,arm\n1,B\n2,A\n", replace=True)
    assert (outcome.created, outcome.unchanged) == (2, 0)
    slots = RandomizationSlot.objects.order_by("sequence")
    assert list(slots.values_list("sequence", "arm__code")) == [(1, "B"), (2, "A")]
    event = AuditEvent.objects.filter(action=AuditAction.RANDOMIZATION_LIST).latest("pk")
    assert event.details == {
        "file": "list.csv",
        "rows added": 2,
        "rows already there": 0,
        "replaced": True,
    }


def test_a_list_some_patients_were_allocated_from_cannot_be_replaced(tmp_path, drx):
    upload(tmp_path, "sequence,arm\n1,A\n2,B\n")
    path = write(
        tmp_path, ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
    )
    run("import_enrollments", path)
    with pytest.raises(imports.ImportFailed) as failed:
        upload(tmp_path, "sequence,arm\n1,A\n2,A\n", replace=True)
    assert failed.value.problems == [
        "line 1: 1 row(s) of the list are already used; it cannot be replaced"
    ]
    assert RandomizationSlot.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sequence,arm\n", "line 2: the file has no rows; give one row per sequence number"),
        ("sequence,arm\n,A\n", "line 2: sequence is required (a whole number from 1)"),
    ],
)
def test_a_list_without_rows_or_sequence_numbers_is_refused(tmp_path, text, problem):
    with pytest.raises(imports.ImportFailed) as failed:
        upload(tmp_path, text)
    assert failed.value.problems == [problem]
    assert not RandomizationSlot.objects.exists()
