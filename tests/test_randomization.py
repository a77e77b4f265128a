"""Permuted-block randomization: balanced in every complete block, reproducible."""

from collections import Counter

import pytest
from django.core.exceptions import ValidationError

from diary.models import Protocol
from diary.randomization import arm_code_for, assign_arm, block
from tests.factories import EnrollmentFactory, PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def unsaved_enrollment(protocol):
    return EnrollmentFactory.build(
        protocol=protocol, patient=PatientFactory(), physician=PhysicianFactory()
    )


def test_every_complete_block_is_balanced():
    for index in range(50):
        assert Counter(block("seed", 4, ["A", "B"], index)) == {"A": 2, "B": 2}


def test_sequence_is_reproducible_from_the_seed_and_differs_between_seeds():
    first = [arm_code_for("s1", 4, ["A", "B"], n) for n in range(40)]
    assert first == [arm_code_for("s1", 4, ["B", "A"], n) for n in range(40)]
    assert first != [arm_code_for("s2", 4, ["A", "B"], n) for n in range(40)]


def test_block_size_must_fit_the_arms():
    with pytest.raises(ValidationError, match="multiple of the number of arms"):
        block("seed", 3, ["A", "B"], 0)


def test_assign_arm_takes_consecutive_slots_of_the_protocol_sequence():
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    codes = []
    for n in range(8):
        enrollment = EnrollmentFactory.build(protocol=protocol)
        enrollment.patient.save()
        enrollment.physician.save()
        enrollment.patient_id, enrollment.physician_id = (
            enrollment.patient.pk,
            enrollment.physician.pk,
        )
        assign_arm(enrollment)
        enrollment.save()
        assert enrollment.randomization_number == n
        codes.append(enrollment.arm.code)
    assert codes == [arm_code_for("ldn-fm-2013", 4, ["A", "B"], n) for n in range(8)]
    assert Counter(codes[:4]) == Counter(codes[4:]) == {"A": 2, "B": 2}


def test_hand_picked_arms_do_not_use_randomization_slots():
    EnrollmentFactory()  # arm picked by hand
    enrollment = unsaved_enrollment(Protocol.objects.get(slug="ldn-fm-2013"))
    assign_arm(enrollment)
    assert enrollment.randomization_number == 0
