"""Balanced randomization of arms in permuted blocks.

Block k of a protocol is its arms repeated block_size / len(arms) times, shuffled by a
random generator seeded with "<protocol seed>:<k>". The sequence is therefore fixed by
the protocol's seed: anyone with the seed can reproduce and audit every allocation, and
every complete block is exactly balanced.
"""

from __future__ import annotations

import random

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max


def block(seed: str, block_size: int, arm_codes: list[str], index: int) -> list[str]:
    """The arm codes of block `index` (0-based) in allocation order."""
    codes = sorted(arm_codes)
    if not codes or block_size % len(codes):
        raise ValidationError(
            f"The block size ({block_size}) must be a multiple of the number of arms "
            f"({len(codes)})."
        )
    slots = codes * (block_size // len(codes))
    random.Random(f"{seed}:{index}").shuffle(slots)
    return slots


def arm_code_for(seed: str, block_size: int, arm_codes: list[str], number: int) -> str:
    """The arm of allocation `number` (0-based) in the protocol's sequence."""
    return block(seed, block_size, arm_codes, number // block_size)[number % block_size]


def assign_arm(enrollment) -> None:
    """Give `enrollment` the next arm of its protocol's sequence (not saved: call it
    inside the transaction that saves the enrollment, and save before the next call).

    Locks the protocol row so two coordinators, or two app servers, enrolling at the
    same moment take consecutive slots; the unique constraint on (protocol,
    randomization_number) backs this up.
    """
    from diary.models import Protocol

    with transaction.atomic():
        protocol = Protocol.objects.select_for_update().get(pk=enrollment.protocol_id)
        arms = {arm.code: arm for arm in protocol.arms.all()}
        taken = protocol.enrollments.aggregate(last=Max("randomization_number"))["last"]
        number = 0 if taken is None else taken + 1
        code = arm_code_for(protocol.randomization_seed, protocol.block_size, list(arms), number)
        enrollment.arm = arms[code]
        enrollment.randomization_number = number
