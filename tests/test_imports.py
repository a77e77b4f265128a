"""import_users, import_enrollments, import_entries: all rows or none, clear messages."""

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from diary.models import DiaryEntry, Enrollment, User
from diary.randomization import arm_code_for
from tests.factories import EnrollmentFactory, EntryFactory, PhysicianFactory, builtin_arm

pytestmark = pytest.mark.django_db

ENTRY_HEADER = (
    "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache,dose_taken,tolerability,notes"
)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def enrollment():
    # ldn-fm-2013 arm A from 2026-01-01: baseline to Jan 14, LDN from Jan 15.
    return EnrollmentFactory(study_id="FM-001", arm=builtin_arm(), start_date=dt.date(2026, 1, 1))


def write(tmp_path, text, name="file.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(command, path):
    out, err = StringIO(), StringIO()
    call_command(command, path, stdout=out, stderr=err)
    return out.getvalue()


def state():
    return (
        User.objects.count(),
        Enrollment.objects.count(),
        DiaryEntry.objects.count(),
        DiaryEntry.history.count(),
        Enrollment.history.count(),
    )


def fails(command, path):
    """Run an import that must fail; return its messages and check nothing changed."""
    before = state()
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command(command, path, stdout=StringIO(), stderr=err)
    assert state() == before
    return err.getvalue()


# Users -----------------------------------------------------------------------------


def test_import_users_creates_accounts_without_usable_password_once(tmp_path):
    path = write(
        tmp_path,
        "username,email,role\ndrx,drx@example.org,physician\nsam,sam@example.org,coordinator\n",
    )
    assert "Imported 2 users" in run("import_users", path)
    drx = User.objects.get(username="drx")
    assert drx.role == "physician" and not drx.has_usable_password()
    assert User.objects.get(username="sam").is_staff
    assert "Imported 0 users (2 already present, unchanged)" in run("import_users", path)
    assert User.objects.count() == 2


def test_import_users_reports_every_bad_line(tmp_path):
    PhysicianFactory(username="drx", email="drx@example.org")
    path = write(
        tmp_path,
        "username,email,role\ndrx,other@example.org,physician\nann,ann@example.org,nurse\n"
        "bob,bob@example.org,patient\nbob,bob@example.org,patient\n",
    )
    messages = fails("import_users", path)
    assert 'line 2: user "drx" already exists with other values' in messages
    assert 'line 3: role "nurse" must be one of patient, physician, coordinator' in messages
    assert 'line 5: username "bob" appears again (first on line 4)' in messages


def test_wrong_header_is_reported_on_line_1(tmp_path):
    messages = fails("import_users", write(tmp_path, "user,email,role,age\nx,x@y.z,patient,3\n"))
    assert "line 1: missing column(s): username" in messages
    assert "line 1: unknown column(s): user, age" in messages


def test_unreadable_files_get_a_message(tmp_path):
    assert "cannot read" in fails("import_users", str(tmp_path / "missing.csv"))
    path = tmp_path / "latin1.csv"
    path.write_bytes("username,email,role\njos\xe9,j@x.org,patient\n".encode("latin-1"))
    assert "line 2: the file is not UTF-8 text" in fails("import_users", str(path))
    assert "the file is empty" in fails("import_users", write(tmp_path, ""))


# Enrollments -----------------------------------------------------------------------

ENROLLMENT_HEADER = (
    "study_id,username,email,physician,protocol,arm,start_date,timezone,status,withdrawn_on\n"
)


def test_import_enrollments_creates_patients_and_enrollments_once(tmp_path):
    PhysicianFactory(username="drx")
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,B,2026-02-01,,,\n"
        "FM-101,bea,bea@example.org,drx,ldn-fm-2009,P,2026-02-01,Europe/Madrid,withdrawn,"
        "2026-02-10\n",
    )
    assert "Imported 2 enrollments" in run("import_enrollments", path)
    ann = Enrollment.objects.get(study_id="FM-100")
    assert (ann.arm.code, ann.status, ann.timezone) == ("B", "active", "America/Los_Angeles")
    assert ann.patient.username == "ann" and not ann.patient.has_usable_password()
    bea = Enrollment.objects.get(study_id="FM-101")
    assert (bea.status, bea.withdrawn_on) == ("withdrawn", dt.date(2026, 2, 10))
    before = state()
    assert "2 already present, unchanged" in run("import_enrollments", path)
    assert state() == before


def test_blank_arms_are_randomized_in_permuted_blocks(tmp_path):
    PhysicianFactory(username="drx")
    lines = "".join(
        f"FM-2{n:02d},p{n},p{n}@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n" for n in range(8)
    )
    run("import_enrollments", write(tmp_path, ENROLLMENT_HEADER + lines))
    codes = list(
        Enrollment.objects.order_by("randomization_number").values_list("arm__code", flat=True)
    )
    assert codes == [arm_code_for("ldn-fm-2013", 4, ["A", "B"], n) for n in range(8)]
    assert Counter(codes) == {"A": 4, "B": 4}


def test_import_enrollments_reports_every_problem_and_loads_nothing(tmp_path):
    PhysicianFactory(username="drx")
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-300,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-301,bea,bea@example.org,nobody,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-302,cat,cat@example.org,drx,no-such,,2026-02-01,,,\n"
        "FM-303,dee,dee@example.org,drx,ldn-fm-2013,P,2026-02-01,,,\n"
        "FM-304,eve,eve@example.org,drx,ldn-fm-2013,,2026-02-01,,withdrawn,\n"
        "FM-305,fay,fay@example.org,drx,ldn-fm-2013,,2026-02-01,Mars/Base,,\n"
        "FM-306,gus,gus@example.org,drx,ldn-fm-2013,,01/02/2026,,,\n"
        "FM-300,hal,hal@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n",
    )
    messages = fails("import_enrollments", path)
    assert 'line 3: physician "nobody" does not exist or is not a physician' in messages
    assert 'line 4: protocol "no-such" does not exist' in messages
    assert 'line 5: arm "P" is not an arm of ldn-fm-2013' in messages
    assert "line 6: withdrawn_on is required when status is withdrawn" in messages
    assert 'line 7: timezone "Mars/Base" is not a known IANA time zone name' in messages
    assert 'line 8: start_date "01/02/2026" is not a date in YYYY-MM-DD form' in messages
    assert 'line 9: study ID "FM-300" appears again (first on line 2)' in messages
    assert "line 2:" not in messages


# Entries ---------------------------------------------------------------------------


def test_import_entries_loads_with_source_import_and_history_once(tmp_path, enrollment):
    path = write(
        tmp_path,
        ENTRY_HEADER + "\nFM-001,2026-01-02,5,6,7,Yes,n,,,\n"
        'FM-001,2026-01-20,3,4,8,TRUE,0,y,95,"Vivid dreams, slept well"\n',
    )
    assert "Imported 2 entries" in run("import_entries", path)
    first, second = DiaryEntry.objects.order_by("date")
    assert (first.pain, first.vivid_dreams, first.headache, first.dose_taken) == (
        5,
        True,
        False,
        None,
    )
    assert (second.dose_taken, second.tolerability) == (True, 95)
    assert second.notes == "Vivid dreams, slept well"
    assert {first.source, second.source} == {"import"}
    assert first.history.get().history_change_reason == "Imported from file.csv"
    before = state()
    assert "Imported 0 entries (2 already present, unchanged)" in run("import_entries", path)
    assert state() == before


def test_import_accepts_a_byte_order_mark_and_any_column_order(tmp_path, enrollment):
    path = tmp_path / "bom.csv"
    path.write_bytes(
        "\ufeffdate,study_id,headache,vivid_dreams,sleep_quality,fatigue,pain\n"
        "2026-01-03,FM-001,no,no,5,5,5\n".encode()
    )
    assert "Imported 1 entries" in run("import_entries", str(path))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("FM-001,2026-01-32,5,5,5,no,no,,,", 'line 2: date "2026-01-32" is not a date'),
        ("FM-999,2026-01-02,5,5,5,no,no,,,", 'line 2: unknown study ID "FM-999"'),
        (
            "FM-001,2026-01-02,11,5,5,no,no,,,",
            'line 2: pain "11" must be a whole number from 0 to 10',
        ),
        ("FM-001,2026-01-02,5,5,-1,no,no,,,", 'line 2: sleep_quality "-1" must be a whole number'),
        ("FM-001,2026-01-20,5,5,5,no,no,yes,101,", 'line 2: tolerability "101" must be a whole'),
        ("FM-001,2026-01-02,5,5,5,maybe,no,,,", 'line 2: vivid_dreams "maybe" must be yes or no'),
        ("FM-001,2026-01-02,5,5,5,no,,,,", "line 2: headache is required (yes or no)"),
        ("FM-001,2026-01-02,5,5,5,no,no,yes,,", "line 2: dose_taken must be blank outside LDN"),
        ("FM-001,2026-01-02,5,5,5,no,no,,80,", "line 2: tolerability must be blank outside LDN"),
        ("FM-001,2026-03-05,5,5,5,no,no,yes,80,", "line 2: 2026-03-05 is in the future"),
        ("FM-001,2025-12-31,5,5,5,no,no,,,", "line 2: 2025-12-31 is before the start of FM-001"),
        ("FM-001,2026-01-02,5,5,5,no,no,,," + "x" * 1001, "line 2: notes are 1001 characters"),
        ("FM-001,2026-01-02,5,5,5,no,no", "line 2: 7 cells, the header has 10"),
    ],
)
def test_each_bad_entry_row_is_reported_and_nothing_is_loaded(tmp_path, enrollment, row, message):
    good = "FM-001,2026-01-05,5,5,5,no,no,,,"
    path = write(tmp_path, f"{ENTRY_HEADER}\n{row}\n{good}\n")
    assert message in fails("import_entries", path)


def test_duplicate_day_in_one_file_is_reported_on_the_later_line(tmp_path, enrollment):
    path = write(
        tmp_path,
        ENTRY_HEADER + "\nFM-001,2026-01-02,5,5,5,no,no,,,\nFM-001,2026-01-02,6,5,5,no,no,,,\n",
    )
    assert "line 3: FM-001 2026-01-02 appears again (first on line 2)" in fails(
        "import_entries", path
    )


def test_day_after_withdrawal_is_refused(tmp_path, enrollment):
    enrollment.status = "withdrawn"
    enrollment.withdrawn_on = dt.date(2026, 1, 10)
    enrollment.save()
    path = write(tmp_path, ENTRY_HEADER + "\nFM-001,2026-01-11,5,5,5,no,no,,,\n")
    assert "line 2: 2026-01-11 is after FM-001 withdrew (2026-01-10)" in fails(
        "import_entries", path
    )


def test_conflicting_existing_entry_is_never_overwritten(tmp_path, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 2), pain=2)
    path = write(tmp_path, ENTRY_HEADER + "\nFM-001,2026-01-02,9,5,5,no,no,,,\n")
    assert "line 2: FM-001 already has an entry for 2026-01-02 with other values" in fails(
        "import_entries", path
    )
    assert DiaryEntry.objects.get().pain == 2


def test_entry_import_queries_do_not_grow_with_rows(tmp_path, enrollment):
    def rows(count):
        return "".join(f"FM-001,2026-01-{n:02d},5,5,5,no,no,,,\n" for n in range(1, count + 1))

    with CaptureQueriesContext(connection) as small:
        run("import_entries", write(tmp_path, f"{ENTRY_HEADER}\n{rows(2)}", "small.csv"))
    DiaryEntry.objects.all().delete()
    DiaryEntry.history.all().delete()
    with CaptureQueriesContext(connection) as large:
        run("import_entries", write(tmp_path, f"{ENTRY_HEADER}\n{rows(28)}", "large.csv"))
    assert len(large.captured_queries) == len(small.captured_queries)
