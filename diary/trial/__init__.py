"""Protocols, arms, phases and enrollments; the schedule as each reader sees it
(blinding), randomization, enrolment, invitations, unblinding and protocol versions."""
