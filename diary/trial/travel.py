"""A change of a patient's time zone, by herself (her settings) or by staff (the admin):
one function for both, so that the rule of docs/domain.md, "Time zone changes", is
applied the same way whoever makes the change."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from diary.trial.dates import ZoneRule, next_rule, rule_at, validate_timezone
from diary.trial.models import Enrollment


def change_zone(
    enrollment: Enrollment,
    zone: str,
    *,
    by,
    reason: str,
    now: dt.datetime | None = None,
) -> ZoneRule:
    """Make `zone` her time zone from her next diary day on (dates.next_rule) and
    record it: the enrollment's history row has who (`by`), when, why (`reason`), the
    old and new `timezone`, and in `zone_changes` the rule (its first day and instant).
    A change not yet in force (made earlier the same diary day) is replaced. Returns
    the rule that `zone` follows from its first day (its starts_day). Raises
    ValidationError for an unknown zone or a closed diary; `enrollment` is updated in
    place."""
    validate_timezone(zone)
    if enrollment.has_ended:
        raise ValidationError(
            "The study has ended for this patient: her diary is closed, and its days "
            "keep their time zone."
        )
    now = now or timezone.now()
    with transaction.atomic():
        locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        # Changes made before `now` stand; a later one (not in force yet) is replaced.
        kept = [c for c in locked.zone_changes if dt.datetime.fromisoformat(c["starts_at"]) <= now]
        rules = [r for r in locked.zone_rules if r.starts_at is None or r.starts_at <= now]
        locked.zone_changes = kept
        in_force = rule_at(rules, now)
        rule = next_rule(rules, zone, now)
        if rule.zone != in_force.zone:
            kept.append(
                {
                    "zone": rule.zone,
                    "from_zone": in_force.zone,
                    "starts_at": rule.starts_at.isoformat(),
                    "starts_day": rule.starts_day.isoformat(),
                    "splits": [split.isoformat() for split in rule.splits],
                    "changed_at": now.isoformat(),
                }
            )
        # Else she goes back to the zone in force: it simply goes on (any pending
        # change is dropped).
        locked.timezone = zone
        locked._history_user = by
        locked._change_reason = reason.strip()[:100]  # the history's column holds 100
        locked.save(update_fields=["timezone", "zone_changes"])
    enrollment.timezone, enrollment.zone_changes = locked.timezone, locked.zone_changes
    return rule
