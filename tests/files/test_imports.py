"""import_users, import_enrollments, import_entries: the whole file is checked first and
loaded all or nothing; every problem is one "line N: ..." line; re-imports change
nothing; stored clinical data is never overwritten."""

import csv
import datetime as dt
from collections import Counter
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from diary.audit.models import AuditAction, AuditEvent, shell_actor
from diary.entries.models import DiaryEntry
from diary.files import imports
from diary.people.models import User
from diary.trial.models import Enrollment, Protocol
from diary.trial.randomization import arm_code_for
from tests.factories import (
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
# Noon in Los Angeles on 2026-03-10.
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)

USER_HEADER = "username,email,role\n"
ENROLLMENT_HEADER = (
    "study_id,username,email,physician,protocol,arm,start_date,timezone,status,withdrawn_on\n"
)
ENTRY_HEADER = (
    "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache,dose_taken,tolerability,notes\n"
)


@pytest.fixture
def enrollment():
    """ldn-fm-2013 arm A from 2026-02-01: baseline Feb 1-14, LDN from Feb 15 (today,
    2026-03-10, is an LDN day)."""
    return EnrollmentFactory(
        study_id="FM-001", arm=builtin_arm("ldn-fm-2013", "A"), start_date=dt.date(2026, 2, 1)
    )


@pytest.fixture
def drx():
    return PhysicianFactory(username="drx", email="drx@example.org")


def write(tmp_path, text, name="file.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(command, path, *args):
    """Run an import that must succeed; return what it printed."""
    out, err = StringIO(), StringIO()
    call_command(command, path, *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def state():
    """Every count an import could change, history tables included."""
    return (
        User.objects.count(),
        Enrollment.objects.count(),
        Enrollment.history.count(),
        DiaryEntry.objects.count(),
        DiaryEntry.history.count(),
    )


def fails(command, path, *args):
    """Run an import that must fail; check nothing changed and the summary; return the
    problems it printed, one per line."""
    before = state()
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command(command, path, *args, stdout=StringIO(), stderr=err)
    assert state() == before
    problems = err.getvalue().splitlines()
    count = len(problems)
    assert str(failure.value) == (
        f"Nothing was imported: {count} problem{'s' if count > 1 else ''} in {path}."
    )
    assert failure.value.returncode == 1
    return problems


# Users ------------------------------------------------------------------------------


def test_import_users_creates_accounts_without_usable_password(tmp_path):
    path = write(
        tmp_path,
        USER_HEADER + "drx,drx@example.org,physician\n"
        "sam,sam@example.org,Coordinator\nann,ann@Example.ORG,patient\n",
    )
    assert run("import_users", path) == "Imported 3 users (0 already present, unchanged).\n"
    drx, sam, ann = (User.objects.get(username=name) for name in ("drx", "sam", "ann"))
    assert (drx.role, drx.is_staff, drx.has_usable_password()) == ("physician", False, False)
    assert (sam.role, sam.is_staff, sam.has_usable_password()) == ("coordinator", True, False)
    assert (ann.role, ann.email) == ("patient", "ann@example.org")


def test_reimporting_users_changes_nothing(tmp_path):
    path = write(tmp_path, USER_HEADER + "drx,drx@example.org,physician\n")
    run("import_users", path)
    before = state()
    assert run("import_users", path) == "Imported 0 users (1 already present, unchanged).\n"
    assert state() == before


def test_one_imported_row_is_counted_in_the_singular(tmp_path):
    path = write(tmp_path, "username,email,role\nsolo,solo@example.org,patient\n")
    assert run("import_users", path) == "Imported 1 user (0 already present, unchanged).\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ann,ann@example.org,nurse", 'line 3: role "nurse" must be one of patient, physician, '),
        ("ann,not-an-address,patient", 'line 3: email "not-an-address" is not an e-mail address'),
        ("ann,,patient", "line 3: email is required"),
        ("ann smith,ann@example.org,patient", 'line 3: username "ann smith" may use only'),
        ("drx,drx@example.org,coordinator", 'line 3: user "drx" already exists with other values'),
        ("drx,dr.x@example.org,physician", 'line 3: user "drx" already exists with other values'),
        ("DrX,drx@example.org,physician", 'line 3: username "DrX" differs only in case'),
        ("bob,bob@example.org,patient", 'line 3: username "bob" appears again (first on line 2)'),
    ],
)
def test_bad_user_rows_are_reported_and_nothing_is_loaded(tmp_path, drx, row, message):
    path = write(tmp_path, f"{USER_HEADER}bob,bob@example.org,patient\n{row}\n")
    problems = fails("import_users", path)
    assert len(problems) == 1
    assert problems[0].startswith(message)
    assert User.objects.get(username="drx").role == "physician"


def test_conflicting_user_message_says_what_differs(tmp_path, drx):
    path = write(tmp_path, USER_HEADER + "drx,other@example.org,coordinator\n")
    assert fails("import_users", path) == [
        'line 2: user "drx" already exists with other values (role: physician stored, '
        "coordinator in the file; email: drx@example.org stored, other@example.org in the "
        "file); change the account in the admin"
    ]


# Enrollments ------------------------------------------------------------------------


# Moving a study's existing allocations in from another system: the arms of blinded
# protocols are given, which only --unblinded --reason allows.
MOVING_IN = ("--unblinded", "--reason", "Allocations of the paper study, per the DSMB")


def test_import_enrollments_creates_patients_and_enrollments(tmp_path, drx):
    existing = PatientFactory(username="cat", email="cat@example.org")
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,B,2026-02-01,,,\n"
        "FM-101,bea,bea@example.org,drx,ldn-fm-2009,P,2026-01-05,Europe/Madrid,Withdrawn,"
        "2026-02-10\n"
        "FM-102,cat,,drx,ldn-fm-2009,,2026-03-01,,screening,\n",
    )
    assert run("import_enrollments", path, *MOVING_IN) == (
        "Imported 3 enrollments (0 already present, unchanged).\n"
    )
    ann = Enrollment.objects.get(study_id="FM-100")
    assert (ann.protocol.slug, ann.arm.code, ann.randomization_number) == ("ldn-fm-2013", "B", None)
    assert (ann.status, ann.timezone, ann.physician) == ("active", "America/Los_Angeles", drx)
    assert (ann.patient.role, ann.patient.email) == ("patient", "ann@example.org")
    assert not ann.patient.has_usable_password()
    bea = Enrollment.objects.get(study_id="FM-101")
    assert (bea.status, bea.withdrawn_on, bea.timezone) == (
        "withdrawn",
        dt.date(2026, 2, 10),
        "Europe/Madrid",
    )
    cat = Enrollment.objects.get(study_id="FM-102")
    assert (cat.patient, cat.arm.code, cat.status) == (existing, "P", "screening")
    assert ann.history.get().history_change_reason == f"Imported from file.csv by {shell_actor()}"


def test_optional_enrollment_columns_may_be_left_out(tmp_path, drx):
    path = write(
        tmp_path,
        " Study_ID ,USERNAME,email,physician,protocol,start_date\n"
        "FM-100,ann,ann@example.org,drx,ldn-fm-2009,2026-02-01\n",
    )
    run("import_enrollments", path)
    ann = Enrollment.objects.get()
    assert (ann.arm.code, ann.status, ann.timezone, ann.withdrawn_on) == (
        "P",
        "active",
        "America/Los_Angeles",
        None,
    )


def test_moving_allocations_in_is_one_audit_event_with_the_file_count_and_reason(tmp_path, drx):
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,B,2026-02-01,,,\n"
        "FM-101,bea,bea@example.org,drx,ldn-fm-2013,A,2026-02-01,,,\n"
        "FM-102,cat,cat@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n",
        name="paper-study.csv",
    )
    run("import_enrollments", path, *MOVING_IN)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.actor_name, event.reason) == (
        AuditAction.UNBLINDED_IMPORT,
        None,
        shell_actor(),
        MOVING_IN[2],
    )
    assert event.protocol == Protocol.objects.get(slug="ldn-fm-2013")
    # Counts only, never an arm: blinded staff read the trail too.
    assert event.details == {
        "file": "paper-study.csv",
        "arms given": 2,
        "protocols": ["ldn-fm-2013"],
    }
    given = Enrollment.objects.filter(study_id__in=["FM-100", "FM-101"])
    assert {(e.arm.code, e.randomization_number) for e in given} == {("B", None), ("A", None)}
    assert Enrollment.objects.get(study_id="FM-102").randomization_number == 1


def test_a_given_arm_of_a_blinded_protocol_needs_unblinded_and_a_reason(tmp_path, drx):
    path = write(
        tmp_path, ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,B,2026-02-01,,,\n"
    )
    problems = fails("import_enrollments", path)
    assert problems == [
        'line 2: arm "B" is given, but ldn-fm-2013 is double blind (patient, physician and '
        "coordinators blinded): its arms are assigned by randomization only. Leave the arm "
        'blank, or move a study\'s existing allocations in with --unblinded --reason "..."'
    ]
    with pytest.raises(CommandError, match="An unblinded import needs a reason"):
        call_command("import_enrollments", path, "--unblinded", stdout=StringIO())
    with pytest.raises(CommandError, match="--reason goes with --unblinded"):
        call_command("import_enrollments", path, "--reason", "why", stdout=StringIO())
    assert not Enrollment.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_open_label_arm_may_be_given_without_unblinding(tmp_path, drx):
    arm = make_arm([("baseline", 14), ("ldn", 28)], blinding="open", code="L")
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + f"FM-100,ann,ann@example.org,drx,{arm.protocol.slug},L,2026-02-01,,,\n",
    )
    run("import_enrollments", path)
    assert Enrollment.objects.get().arm == arm
    assert not AuditEvent.objects.exists()


def test_reimporting_enrollments_changes_nothing_even_for_randomized_arms(tmp_path, drx):
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-101,bea,bea@example.org,drx,ldn-fm-2013,A,2026-02-01,,,\n",
    )
    run("import_enrollments", path, *MOVING_IN)
    before = state()
    assert run("import_enrollments", path, *MOVING_IN) == (
        "Imported 0 enrollments (2 already present, unchanged).\n"
    )
    assert state() == before


def test_blank_arms_are_randomized_in_permuted_blocks(tmp_path, drx):
    lines = "".join(
        f"FM-2{n:02d},p{n},p{n}@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n" for n in range(8)
    )
    run("import_enrollments", write(tmp_path, ENROLLMENT_HEADER + lines))
    enrollments = Enrollment.objects.order_by("study_id")
    assert [e.randomization_number for e in enrollments] == list(range(1, 9))
    codes = [e.arm.code for e in enrollments]
    seed = Protocol.objects.get(slug="ldn-fm-2013").randomization_seed
    assert codes == [arm_code_for(seed, 4, ["A", "B"], n) for n in range(1, 9)]
    assert Counter(codes) == {"A": 4, "B": 4}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "FM-100,ann,ann@example.org,nobody,ldn-fm-2013,,2026-02-01,,,",
            'line 2: physician "nobody" does not exist or is not a physician',
        ),
        (
            "FM-100,ann,ann@example.org,cat,ldn-fm-2013,,2026-02-01,,,",
            'line 2: physician "cat" does not exist or is not a physician',
        ),
        (
            "FM-100,ann,ann@example.org,drx,no-such,,2026-02-01,,,",
            'line 2: protocol "no-such" does not exist; known protocols: ldn-fm-2009, ldn-fm-2013',
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,P,2026-02-01,,,",
            'line 2: arm "P" is not an arm of ldn-fm-2013; its arms are A, B',
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,withdrawn,",
            "line 2: withdrawn_on is required when status is withdrawn",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,withdrawn,2026-01-31",
            "line 2: withdrawn_on 2026-01-31 is before start_date 2026-02-01",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,active,2026-02-05",
            "line 2: withdrawn_on must be blank unless status is withdrawn",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,withdrawn,2026-03-11",
            "line 2: withdrawn_on 2026-03-11 is in the future",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,Mars/Base,,",
            'line 2: timezone "Mars/Base" is not a known IANA time zone name',
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,paused,",
            'line 2: status "paused" must be one of screening, active, completed, withdrawn',
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,03/10/2026,,,",
            'line 2: start_date "03/10/2026" is not a date in YYYY-MM-DD form',
        ),
        (
            "FM 100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,",
            'line 2: study ID "FM 100" may use only letters, digits',
        ),
        (
            "FM-100,drx,,drx,ldn-fm-2013,,2026-02-01,,,",
            'line 2: user "drx" exists and is a physician, not a patient',
        ),
        (
            "FM-100,cat,kitty@example.org,drx,ldn-fm-2013,,2026-02-01,,,",
            'line 2: user "cat" exists with another e-mail address (cat@example.org)',
        ),
        (
            "FM-100,ann,,drx,ldn-fm-2013,,2026-02-01,,,",
            "line 2: email is required (the account is invited by e-mail)",
        ),
        (
            "FM-001,cat,,drx,ldn-fm-2013,,2026-02-01,,,",
            "line 2: FM-001 already exists with other values (username: ",
        ),
        (
            # Never a hand-picked arm on a blinded protocol (study.arm_pick_problem), nor
            # a comparison with the stored one (it would name it).
            "FM-001,cat,,drx,ldn-fm-2013,B,2026-02-01,,,",
            'line 2: arm "B" is given, but ldn-fm-2013 is double blind (patient, physician '
            "and coordinators blinded): its arms are assigned by randomization only. Leave "
            "the arm blank, or move a study's existing allocations in with --unblinded "
            '--reason "..."',
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2009,P,2026-02-01,,,",
            'line 2: arm "P" is given, but ldn-fm-2009 is single blind (patient blinded): '
            "its arms are assigned by randomization only.",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,1999-12-31,,,",
            "line 2: start_date must be on or after 2000-01-01",
        ),
        (
            "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2027-03-11,,,",
            "line 2: start_date must be at most 365 days after today (2027-03-10)",
        ),
    ],
)
def test_bad_enrollment_rows_are_reported_and_nothing_is_loaded(
    tmp_path, drx, enrollment, row, message
):
    PatientFactory(username="cat", email="cat@example.org")
    good = "FM-300,zoe,zoe@example.org,drx,ldn-fm-2013,,2026-02-01,,,"
    problems = fails("import_enrollments", write(tmp_path, f"{ENROLLMENT_HEADER}{row}\n{good}\n"))
    assert len(problems) == 1
    assert problems[0].startswith(message)


def test_conflicting_enrollment_message_names_each_difference(tmp_path, drx, enrollment):
    row = f"FM-001,{enrollment.patient.username},,drx,ldn-fm-2013,B,2026-02-02,,completed,"
    path = write(tmp_path, ENROLLMENT_HEADER + row + "\n")
    assert fails("import_enrollments", path, *MOVING_IN) == [
        f"line 2: FM-001 already exists with other values (physician: "
        f"{enrollment.physician.username} stored, drx in the file; start_date: 2026-02-01 "
        "stored, 2026-02-02 in the file; status: active stored, completed in the file; arm: A "
        "stored, B in the file); change it in the admin"
    ]


def test_a_new_patient_on_several_rows_must_be_spelled_the_same(tmp_path, drx):
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-101,Ann,,drx,ldn-fm-2009,,2026-02-01,,,\n"
        "FM-102,ann,anne@example.org,drx,ldn-fm-2009,,2026-02-01,,,\n",
    )
    assert fails("import_enrollments", path) == [
        'line 3: username "Ann" differs only in case from "ann" on line 2; use the same spelling',
        'line 4: email "anne@example.org" differs from the one given for "ann" on line 2 '
        "(ann@example.org)",
    ]


def test_repeated_study_id_is_reported_on_the_later_line(tmp_path, drx):
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-100,bea,bea@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n",
    )
    assert fails("import_enrollments", path) == [
        'line 3: study ID "FM-100" appears again (first on line 2)'
    ]


def test_every_problem_of_every_row_is_listed_in_line_order(tmp_path, drx):
    path = write(
        tmp_path,
        ENROLLMENT_HEADER + "FM-100,ann,ann@example.org,nobody,ldn-fm-2013,Z,2026-02-01,,,\n"
        "FM-101,bea,bea@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-102,cat,cat@example.org,drx,ldn-fm-2013,,2026-02-31,Mars/Base,,\n",
    )
    assert fails("import_enrollments", path) == [
        'line 2: physician "nobody" does not exist or is not a physician',
        'line 2: arm "Z" is not an arm of ldn-fm-2013; its arms are A, B',
        'line 4: start_date "2026-02-31" is not a date in YYYY-MM-DD form',
        'line 4: timezone "Mars/Base" is not a known IANA time zone name, e.g. America/Los_Angeles',
    ]


# Entries ----------------------------------------------------------------------------


def test_import_entries_loads_them_with_source_import_and_a_history_row(tmp_path, enrollment):
    path = write(
        tmp_path,
        ENTRY_HEADER + "FM-001,2026-02-02,5,6,7,Yes,n,,,\n"
        'FM-001,2026-02-20,3,4,8,TRUE,0,y,95,"Vivid dreams, slept well"\n'
        "FM-001,2026-03-10,2,2,9,no,no,,,\n",
    )
    assert run("import_entries", path) == "Imported 3 entries (0 already present, unchanged).\n"
    baseline, ldn, today = DiaryEntry.objects.order_by("date")
    assert (baseline.pain, baseline.fatigue, baseline.sleep_quality) == (5, 6, 7)
    assert (baseline.vivid_dreams, baseline.headache, baseline.dose_taken) == (True, False, None)
    assert (ldn.dose_taken, ldn.tolerability, ldn.notes) == (True, 95, "Vivid dreams, slept well")
    assert (today.dose_taken, today.tolerability, today.notes) == (None, None, "")
    for entry in (baseline, ldn, today):
        assert (entry.source, entry.late, entry.voided) == ("import", False, False)
        history = entry.history.get()
        assert (history.history_type, history.history_change_reason) == (
            "+",
            f"Imported from file.csv by {shell_actor()}",
        )


def test_imported_entries_and_their_history_hold_every_value_as_written(tmp_path, enrollment):
    # PostgreSQL loads entries as array literals: quotes, backslashes, braces, commas,
    # the word NULL, line breaks and non-ASCII text must arrive unchanged, and each
    # history row must copy its entry whole.
    awkward = [
        'She said "fine", then {not}',
        "back\\slash \\N NULL",
        "NULL",
        "línea uno\nlínea dos ✓",
        "",
    ]
    rows = StringIO()
    csv.writer(rows, lineterminator="\n").writerows(
        ["FM-001", f"2026-02-{2 + n:02d}", n, 10 - n, 5, "yes", "no", "", "", note]
        for n, note in enumerate(awkward)
    )
    run("import_entries", write(tmp_path, ENTRY_HEADER + rows.getvalue()))
    entries = list(DiaryEntry.objects.order_by("date"))
    assert [entry.notes for entry in entries] == awkward
    stamped = {entry.history.get().history_date for entry in entries}
    assert len(stamped) == 1
    for n, entry in enumerate(entries):
        assert (entry.pain, entry.fatigue, entry.dose_taken, entry.tolerability) == (
            n,
            10 - n,
            None,
            None,
        )
        history = entry.history.get()
        copied = {f.attname: getattr(history, f.attname) for f in DiaryEntry._meta.concrete_fields}
        assert copied == {
            f.attname: getattr(entry, f.attname) for f in DiaryEntry._meta.concrete_fields
        }
        assert history.history_user is None
        assert history.history_type == "+"
        assert entry.created_at == entry.updated_at == history.history_date


@pytest.mark.parametrize(
    ("command", "header", "row"),
    [
        ("import_users", USER_HEADER, "ann\x00,ann@example.org,patient\n"),
        (
            "import_enrollments",
            ENROLLMENT_HEADER,
            "FM-0\x0001,ann,ann@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n",
        ),
        ("import_entries", ENTRY_HEADER, "FM-0\x0001,2026-02-02,5,6,7,yes,no,,,\n"),
    ],
)
def test_a_nul_character_in_a_key_cell_is_a_line_problem(tmp_path, drx, command, header, row):
    # The cells the rows are looked up by never reach the database with a NUL in them
    # (PostgreSQL refuses any such string outright).
    assert fails(command, write(tmp_path, header + row)) == [
        "line 2: contains a NUL character; is this a CSV file?"
    ]


def test_reimporting_entries_changes_nothing(tmp_path, enrollment):
    # An entry the patient made herself with the same values is left as it is too.
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 9), pain=4, vivid_dreams=True)
    path = write(
        tmp_path,
        ENTRY_HEADER + "FM-001,2026-02-02,5,6,7,yes,no,,,\n"
        "FM-001,2026-02-20,3,4,8,no,no,yes,95,note\n"
        "FM-001,2026-03-09,4,5,5,yes,no,,,\n",
    )
    assert run("import_entries", path) == "Imported 2 entries (1 already present, unchanged).\n"
    before = state()
    assert run("import_entries", path) == "Imported 0 entries (3 already present, unchanged).\n"
    assert state() == before
    assert DiaryEntry.objects.get(date=dt.date(2026, 3, 9)).source == "patient"


def test_entries_of_any_status_and_long_past_days_are_accepted(tmp_path, enrollment):
    enrollment.status = "completed"
    enrollment.save()
    run("import_entries", write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-01,5,5,5,no,no,,,\n"))
    assert DiaryEntry.objects.get().date == dt.date(2026, 2, 1)


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("yes", True),
        ("Y", True),
        (" True ", True),
        ("1", True),
        ("NO", False),
        ("n", False),
        ("false", False),
        ("0", False),
    ],
)
def test_yes_no_cells_accept_every_spelling(tmp_path, enrollment, cell, value):
    path = write(tmp_path, ENTRY_HEADER + f"FM-001,2026-02-20,5,5,5,{cell},{cell},{cell},,\n")
    run("import_entries", path)
    entry = DiaryEntry.objects.get()
    assert (entry.vivid_dreams, entry.headache, entry.dose_taken) == (value, value, value)


def test_byte_order_mark_any_column_order_and_no_optional_columns(tmp_path, enrollment):
    path = tmp_path / "bom.csv"
    path.write_text(
        "Date , STUDY_ID,headache,vivid_dreams,sleep_quality,fatigue,pain\r\n"
        "2026-02-03,FM-001,no,yes,8,2,1\r\n",
        encoding="utf-8-sig",  # as Excel's "CSV UTF-8" saves it
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    run("import_entries", str(path))
    entry = DiaryEntry.objects.get()
    assert (entry.date, entry.pain, entry.fatigue, entry.sleep_quality) == (
        dt.date(2026, 2, 3),
        1,
        2,
        8,
    )
    assert (entry.vivid_dreams, entry.headache, entry.dose_taken) == (True, False, None)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "FM-001,03/10/2026,5,5,5,no,no,,,",
            'line 2: date "03/10/2026" is not a date in YYYY-MM-DD form',
        ),
        (
            "FM-001,20260210,5,5,5,no,no,,,",
            'line 2: date "20260210" is not a date in YYYY-MM-DD form',
        ),
        (
            "FM-001,2026-02-30,5,5,5,no,no,,,",
            'line 2: date "2026-02-30" is not a date in YYYY-MM-DD form',
        ),
        ("FM-999,2026-02-02,5,5,5,no,no,,,", 'line 2: unknown study ID "FM-999"'),
        ("fm-001,2026-02-02,5,5,5,no,no,,,", 'line 2: unknown study ID "fm-001" (did you mean'),
        (
            "FM-001,2026-02-02,11,5,5,no,no,,,",
            'line 2: pain "11" must be a whole number from 0 to 10',
        ),
        ("FM-001,2026-02-02,5,4.5,5,no,no,,,", 'line 2: fatigue "4.5" must be a whole number'),
        ("FM-001,2026-02-02,5,5,-1,no,no,,,", 'line 2: sleep_quality "-1" must be a whole number'),
        ("FM-001,2026-02-02,,5,5,no,no,,,", "line 2: pain is required"),
        (
            "FM-001,2026-02-20,5,5,5,no,no,yes,101,",
            'line 2: tolerability "101" must be a whole number from 0 to 100',
        ),
        ("FM-001,2026-02-02,5,5,5,maybe,no,,,", 'line 2: vivid_dreams "maybe" must be yes or no'),
        ("FM-001,2026-02-20,5,5,5,no,no,sometimes,,", 'line 2: dose_taken "sometimes" must be yes'),
        ("FM-001,2026-02-02,5,5,5,no,,,,", "line 2: headache is required (yes or no)"),
        (
            "FM-001,2026-02-02,5,5,5,no,no,,80,",
            "line 2: tolerability must be blank outside LDN and placebo phases "
            "(2026-02-02 is in the baseline phase)",
        ),
        (
            "FM-001,2026-02-02,5,5,5,no,no,no,,",
            "line 2: dose_taken must be blank outside LDN and placebo phases "
            "(2026-02-02 is in the baseline phase)",
        ),
        (
            "FM-001,2026-03-11,5,5,5,no,no,yes,80,",
            "line 2: 2026-03-11 is in the future (today is 2026-03-10 in FM-001's time zone, "
            "America/Los_Angeles)",
        ),
        (
            "FM-001,2026-01-31,5,5,5,no,no,,,",
            "line 2: 2026-01-31 is before the start of FM-001's schedule (2026-02-01)",
        ),
        (
            "FM-001,2026-02-02,5,5,5,no,no,,," + "x" * 1001,
            "line 2: notes are 1001 characters long; at most 1000 are allowed",
        ),
        ("FM-001,2026-02-02,5,5,5,no,no", "line 2: has 7 cells but the header has 10"),
        ("FM-001,2026-02-02,5,5,5,no,no,,,,", "line 2: has 11 cells but the header has 10"),
    ],
)
def test_bad_entry_rows_are_reported_and_nothing_is_loaded(tmp_path, enrollment, row, message):
    good = "FM-001,2026-02-05,5,5,5,no,no,,,"
    problems = fails("import_entries", write(tmp_path, f"{ENTRY_HEADER}{row}\n{good}\n"))
    assert len(problems) == 1
    assert problems[0].startswith(message)


def test_notes_of_1000_characters_are_accepted(tmp_path, enrollment):
    run(
        "import_entries",
        write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-02,5,5,5,no,no,,," + "x" * 1000 + "\n"),
    )
    assert len(DiaryEntry.objects.get().notes) == 1000


def test_a_row_with_several_problems_gets_one_line_for_each(tmp_path, enrollment):
    path = write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-02,11,5,5,maybe,no,,80,\n")
    assert fails("import_entries", path) == [
        'line 2: pain "11" must be a whole number from 0 to 10',
        'line 2: vivid_dreams "maybe" must be yes or no (or y/n, true/false, 1/0)',
        "line 2: tolerability must be blank outside LDN and placebo phases "
        "(2026-02-02 is in the baseline phase)",
    ]


def test_day_after_the_end_of_the_schedule_is_refused(tmp_path):
    arm = make_arm([("baseline", 7), ("ldn", 7), ("followup", 6)])
    EnrollmentFactory(
        study_id="FM-001", arm=arm, protocol=arm.protocol, start_date=dt.date(2026, 2, 1)
    )
    path = write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-21,5,5,5,no,no,,,\n")
    assert fails("import_entries", path) == [
        "line 2: 2026-02-21 is after the end of FM-001's schedule (2026-02-20)"
    ]
    path = write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-18,5,5,5,no,no,,90,\n")
    assert fails("import_entries", path) == [
        "line 2: tolerability must be blank outside LDN and placebo phases "
        "(2026-02-18 is in the follow-up phase)"
    ]


def test_day_after_withdrawal_is_refused(tmp_path, enrollment):
    enrollment.status = "withdrawn"
    enrollment.withdrawn_on = dt.date(2026, 2, 20)
    enrollment.save()
    path = write(
        tmp_path,
        ENTRY_HEADER + "FM-001,2026-02-20,5,5,5,no,no,,,\nFM-001,2026-02-21,5,5,5,no,no,,,\n",
    )
    assert fails("import_entries", path) == [
        "line 3: 2026-02-21 is after FM-001's withdrawal (2026-02-20)"
    ]


def test_duplicate_day_in_one_file_is_reported_on_the_later_line(tmp_path, enrollment):
    path = write(
        tmp_path,
        ENTRY_HEADER + "FM-001,2026-02-05,5,5,5,no,no,,,\nFM-001,2026-02-02,5,5,5,no,no,,,\n"
        "FM-001,2026-02-02,5,5,5,no,no,,,\n",
    )
    assert fails("import_entries", path) == [
        "line 4: FM-001 2026-02-02 appears again (first on line 3)"
    ]


def test_conflicting_existing_entry_is_never_overwritten(tmp_path, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 2), pain=2)
    path = write(tmp_path, ENTRY_HEADER + "FM-001,2026-02-02,9,5,5,no,no,,,\n")
    assert fails("import_entries", path) == [
        "line 2: FM-001 already has an entry for 2026-02-02 with other values; correct it in "
        "the admin (pain: 2 stored, 9 in the file)"
    ]
    assert DiaryEntry.objects.get().pain == 2


def test_line_numbers_count_lines_of_the_file_not_rows(tmp_path, enrollment):
    path = write(
        tmp_path,
        ENTRY_HEADER + 'FM-001,2026-02-02,5,5,5,no,no,,,"two\nlines"\n'
        "\n"
        ",,,,,,,,,\n"
        "FM-001,2026-02-03,12,5,5,no,no,,,\n",
    )
    assert fails("import_entries", path) == [
        'line 6: pain "12" must be a whole number from 0 to 10'
    ]


# Headers and unreadable files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "header", "message"),
    [
        ("import_users", "username,email", "line 1: missing column(s): role"),
        (
            "import_users",
            "username,email,role,age",
            "line 1: unknown column(s): age; the columns are username, email, role",
        ),
        ("import_users", "username,email,role,Email ", "line 1: repeated column(s): email"),
        (
            "import_enrollments",
            "study_id,username,email,physician,start_date,arm",
            "line 1: missing column(s): protocol",
        ),
        (
            "import_entries",
            "study_id,date,pain,fatigue,sleep,vivid_dreams,headache",
            "line 1: missing column(s): sleep_quality",
        ),
        ("import_entries", "", "line 1: the file is empty; the first line must name"),
    ],
)
def test_wrong_header_is_reported_on_line_1(tmp_path, command, header, message):
    path = write(tmp_path, f"{header}\nx,y,z\n" if header else "")
    problems = fails(command, path)
    assert any(problem.startswith(message) for problem in problems)
    assert all(problem.startswith("line 1: ") for problem in problems)


def test_a_missing_file_cannot_be_read(tmp_path):
    missing = tmp_path / "missing.csv"
    with pytest.raises(CommandError, match=f"^cannot read {missing}: No such file"):
        call_command("import_users", str(missing), stdout=StringIO(), stderr=StringIO())


def test_bytes_that_are_not_utf8_are_reported_with_their_line(tmp_path, enrollment):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (
            ENTRY_HEADER
            + "FM-001,2026-02-02,5,5,5,no,no,,,\nFM-001,2026-02-03,5,5,5,no,no,,,café\n"
        ).encode("latin-1")
    )
    assert fails("import_entries", str(path)) == [
        "line 3: the file is not UTF-8 text; save it as CSV UTF-8 and import it again"
    ]


# Queries ------------------------------------------------------------------------------


def test_entry_import_queries_do_not_grow_with_the_rows(tmp_path):
    EnrollmentFactory(study_id="FM-001", start_date=dt.date(2026, 1, 1))
    EnrollmentFactory(study_id="FM-002", start_date=dt.date(2026, 1, 1))

    def captured(count, name):
        days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(count // 2)]
        rows = "".join(
            f"{study_id},{day},5,5,5,no,no,,,\n"
            for day in days
            for study_id in ("FM-001", "FM-002")
        )
        with CaptureQueriesContext(connection) as queries:
            run("import_entries", write(tmp_path, ENTRY_HEADER + rows, name))
        return [query["sql"] for query in queries.captured_queries]

    small, large = captured(2, "small.csv"), captured(50, "large.csv")
    assert DiaryEntry.objects.count() == DiaryEntry.history.count() == 50

    def lookups(queries):
        return [sql for sql in queries if not sql.startswith("INSERT")]

    # The lookups (enrollments, their protocols' arms and phases, the stored entries, the
    # signed enrollments whose signatures new days may invalidate) and the transaction are
    # the same; the entries and their history rows are inserted in
    # bulk. SQLite takes at most 999 parameters a query, so Django may split a bulk insert
    # in two there.
    assert len(lookups(large)) == len(lookups(small)) == 7
    assert len(large) - len(lookups(large)) <= 4
    if connection.vendor == "postgresql":
        assert len(large) == len(small)


@pytest.mark.parametrize(
    ("command", "header", "row"),
    [
        ("import_users", USER_HEADER, "user{n},user{n}@example.org,patient\n"),
        (
            "import_enrollments",
            ENROLLMENT_HEADER,
            "FM-{n:03d},user{n},user{n}@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n",
        ),
    ],
)
def test_checking_users_and_enrollments_does_not_query_once_per_row(
    tmp_path, drx, command, header, row
):
    def queries(count):
        # The last row is bad, so the file is only checked, never loaded.
        rows = "".join(row.format(n=n) for n in range(count)) + "bad row\n"
        with CaptureQueriesContext(connection) as captured:
            fails(command, write(tmp_path, header + rows, f"{count}.csv"))
        return len(captured.captured_queries)

    assert queries(2) == queries(20)


def test_a_day_entered_between_check_and_load_makes_the_load_refuse_all(
    tmp_path, enrollment, monkeypatch
):
    # The patient saves 2026-03-10 after the file was checked and before it is loaded:
    # the database's one-entry-per-day constraint refuses the load, and nothing is kept.
    restart = imports.entry_check._EntryCheck.restart

    def patient_saves_today(check):
        EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 10))
        restart(check)

    monkeypatch.setattr(imports.entry_check._EntryCheck, "restart", patient_saves_today)
    path = write(
        tmp_path,
        ENTRY_HEADER + "FM-001,2026-03-09,5,5,5,no,no,,,\nFM-001,2026-03-10,5,5,5,no,no,,,\n",
    )
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing was imported: 1 problem"):
        call_command("import_entries", path, stdout=StringIO(), stderr=err)
    assert err.getvalue().startswith("the database refused the data")
    assert len(err.getvalue().splitlines()) == 1
    assert list(DiaryEntry.objects.values_list("date", "source")) == [
        (dt.date(2026, 3, 10), "patient")
    ]


def test_the_future_begins_at_midnight_in_the_enrollments_time_zone(tmp_path):
    # Noon in Los Angeles is already 04:00 on 2026-03-11 in Tokyo.
    EnrollmentFactory(study_id="JP-001", timezone="Asia/Tokyo", start_date=dt.date(2026, 2, 1))
    EnrollmentFactory(study_id="US-001", start_date=dt.date(2026, 2, 1))
    path = write(
        tmp_path,
        ENTRY_HEADER + "JP-001,2026-03-11,5,5,5,no,no,,,\nUS-001,2026-03-11,5,5,5,no,no,,,\n",
    )
    assert fails("import_entries", path) == [
        "line 3: 2026-03-11 is in the future (today is 2026-03-10 in US-001's time zone, "
        "America/Los_Angeles)"
    ]
    run("import_entries", write(tmp_path, ENTRY_HEADER + "JP-001,2026-03-11,5,5,5,no,no,,,\n"))
    assert DiaryEntry.objects.get().enrollment.study_id == "JP-001"


def test_a_patient_cannot_be_enrolled_twice_in_one_protocol_by_import(tmp_path, drx):
    EnrollmentFactory(study_id="FM-900", patient=PatientFactory(username="ann"), physician=drx)
    rows = (
        "FM-901,ann,,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-902,bea,bea@example.org,drx,ldn-fm-2013,,2026-02-01,,,\n"
        "FM-903,bea,,drx,ldn-fm-2013,,2026-02-01,,screening,\n"
        "FM-904,bea,,drx,ldn-fm-2009,,2026-02-01,,,\n"
        "FM-905,ann,,drx,ldn-fm-2013,,2026-02-01,,completed,\n"
    )
    problems = fails("import_enrollments", write(tmp_path, ENROLLMENT_HEADER + rows))
    assert problems == [
        "line 2: ann already takes part in ldn-fm-2013 (FM-900); a patient has one "
        "screening or active enrollment per protocol",
        "line 4: bea already takes part in ldn-fm-2013 (line 3); a patient has one "
        "screening or active enrollment per protocol",
    ]
