"""Concealed allocation: permuted blocks from a secret seed, or an uploaded list."""

import re
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from diary.files import imports
from diary.trial import protocols
from diary.trial.models import Enrollment, Protocol, RandomizationSlot
from diary.trial.randomization import arm_code_for, assign_arm, block
from tests.factories import EnrollmentFactory, PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def unsaved_enrollment(protocol):
    return EnrollmentFactory.build(
        protocol=protocol, patient=PatientFactory(), physician=PhysicianFactory()
    )


def randomize(protocol, count):
    """Enroll `count` patients with blank arms, one after the other."""
    enrollments = []
    for _ in range(count):
        enrollment = unsaved_enrollment(protocol)
        assign_arm(enrollment)
        enrollment.save()
        enrollments.append(enrollment)
    return enrollments


def test_every_complete_block_is_balanced():
    for index in range(50):
        assert Counter(block("seed", 4, ["A", "B"], index)) == {"A": 2, "B": 2}


def test_sequence_is_reproducible_from_the_seed_and_differs_between_seeds():
    first = [arm_code_for("s1", 4, ["A", "B"], n) for n in range(1, 41)]
    assert first == [arm_code_for("s1", 4, ["B", "A"], n) for n in range(1, 41)]
    assert first != [arm_code_for("s2", 4, ["A", "B"], n) for n in range(1, 41)]


def test_block_size_must_fit_the_arms():
    with pytest.raises(ValidationError, match="multiple of the number of arms"):
        block("seed", 3, ["A", "B"], 0)


def test_assign_arm_takes_consecutive_sequence_numbers_from_the_secret_seed():
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    enrollments = randomize(protocol, 8)
    assert [e.randomization_number for e in enrollments] == list(range(1, 9))
    codes = [e.arm.code for e in enrollments]
    seed = protocol.randomization_seed
    assert codes == [arm_code_for(seed, 4, ["A", "B"], n) for n in range(1, 9)]
    assert Counter(codes[:4]) == Counter(codes[4:]) == {"A": 2, "B": 2}


def test_hand_picked_arms_do_not_use_sequence_numbers():
    EnrollmentFactory()  # arm assigned directly
    (enrollment,) = randomize(Protocol.objects.get(slug="ldn-fm-2013"), 1)
    assert enrollment.randomization_number == 1


def test_builtin_seeds_are_secret_and_differ_between_installations():
    """0002 runs once per installation: each run draws a new seed from a cryptographic
    generator, never the published slug."""
    stored = Protocol.objects.get(slug="ldn-fm-2013").randomization_seed
    assert stored != "ldn-fm-2013" and re.fullmatch(r"[0-9a-f]{32}", stored)
    migration = "0002_builtin_protocols"
    executor = MigrationExecutor(connection)
    apps = executor.loader.project_state(("diary", migration)).apps
    create = executor.loader.get_migration("diary", migration).operations[0].code
    seeds = set()
    for _ in range(2):  # two new installations
        for model in ("Phase", "Arm", "Protocol"):
            apps.get_model("diary", model).objects.all().delete()
        create(apps, None)
        seeds.add(
            apps.get_model("diary", "Protocol").objects.get(slug="ldn-fm-2013").randomization_seed
        )
    assert len(seeds) == 2 and stored not in seeds


def write_list(tmp_path, text, name="list.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_randomization_list_is_used_in_order_and_refuses_once_used_up(tmp_path):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    rows = "sequence,arm\n" + "".join(
        f"{n},{code}\n" for n, code in [(3, "A"), (1, "B"), (2, "b"), (4, "A")]
    )
    outcome = imports.import_randomization_list(write_list(tmp_path, rows), protocol)
    assert outcome.created == 4
    enrollments = randomize(protocol, 4)
    assert [(e.randomization_number, e.arm.code) for e in enrollments] == [
        (1, "B"),
        (2, "B"),
        (3, "A"),
        (4, "A"),
    ]
    before = Enrollment.objects.count()
    with pytest.raises(ValidationError, match="randomization list of ldn-fm-2013 is used up"):
        randomize(protocol, 1)
    assert Enrollment.objects.count() == before


def test_the_same_list_reproduces_the_same_allocation(tmp_path):
    text = "sequence,arm\n1,A\n2,B\n3,B\n4,A\n"
    original = Protocol.objects.get(slug="ldn-fm-2013")
    copy = protocols.copy_protocol(original, by=None)
    allocations = []
    for protocol in (original, copy):
        imports.import_randomization_list(write_list(tmp_path, text), protocol)
        allocations.append([e.arm.code for e in randomize(protocol, 4)])
    assert allocations == [["A", "B", "B", "A"], ["A", "B", "B", "A"]]


def test_a_bad_list_is_refused_whole_with_line_numbers(tmp_path):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    text = "sequence,arm\n1,A\n0,B\nx,A\n1,B\n5,C\n"
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_randomization_list(write_list(tmp_path, text), protocol)
    assert failed.value.problems == [
        'line 3: sequence "0" must be a whole number from 1',
        'line 4: sequence "x" must be a whole number from 1',
        "line 5: sequence 1 appears again (first on line 2)",
        'line 6: arm "C" is not an arm of ldn-fm-2013 (A, B)',
    ]
    assert not RandomizationSlot.objects.exists()


def test_uploaded_rows_cannot_change_and_a_list_cannot_follow_seeded_allocations(tmp_path):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    imports.import_randomization_list(write_list(tmp_path, "sequence,arm\n1,A\n"), protocol)
    again = imports.import_randomization_list(
        write_list(tmp_path, "sequence,arm\n1,A\n2,B\n"), protocol
    )
    assert (again.created, again.unchanged) == (1, 1)
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_randomization_list(write_list(tmp_path, "sequence,arm\n1,B\n"), protocol)
    assert failed.value.problems == [
        "line 2: sequence 1 is already in the list with another arm; uploaded rows cannot change"
    ]
    pilot = Protocol.objects.get(slug="ldn-fm-2009")
    randomize(pilot, 1)
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_randomization_list(write_list(tmp_path, "sequence,arm\n1,P\n"), pilot)
    assert "already randomized 1 enrollment(s) from its seed" in failed.value.problems[0]
