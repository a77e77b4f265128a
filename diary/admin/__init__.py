"""The coordinators' admin: accounts, protocols, enrollment, randomization, blinding,
invitations, data corrections, the audit trail and the access log.

Every change form asks why (kept as the history row's reason, with who and when);
nothing clinical can be deleted. The work itself is done by diary.trial.enrolment, so the rules
are the same wherever a change comes from. What a page shows of arms and phases comes
from diary.trial.blinding for the signed-in reader: a coordinator without allocation access
is blinded here as a physician is on her pages. Second factors and sign-in records are
listed read only (diary.admin.security).
"""

from diary.admin import enrollments, entries, protocols, security, trail, users, visits  # noqa: F401
