"""The only path from a request's user to patient data.

Every function returns what the user may see, or raises Http404: a stranger learns
nothing, not even that a study ID exists (healthchecks' `_get_check_for_user`).
Views never filter patient data by hand.
"""

from __future__ import annotations

from functools import wraps

from django.core import signing
from django.http import Http404
from django.shortcuts import render

from diary.audit.models import DataAccess, shell_actor
from diary.entries.reminders import REMINDER_LINK_SALT
from diary.figures.models import Alert
from diary.queries.models import DataQuery
from diary.trial.models import Enrollment, EnrollmentStatus, load_protocols
from diary.visits.models import Visit

# The patient's diary shows the enrollment she is taking part in now; after it ends,
# the most recent one (read-only).
_STATUS_PREFERENCE = [
    EnrollmentStatus.ACTIVE,
    EnrollmentStatus.SCREENING,
    EnrollmentStatus.COMPLETED,
    EnrollmentStatus.WITHDRAWN,
]


def visible_enrollments(user):
    """Enrollments whose data `user` may read: coordinators all, physicians their own
    patients', everyone else none (patients reach theirs via `own_enrollment`)."""
    enrollments = Enrollment.objects.with_schedule()
    if not user.is_authenticated:
        return enrollments.none()
    if user.is_coordinator:
        return enrollments
    if user.is_physician:
        return enrollments.filter(physician=user)
    return enrollments.none()


def require_clinician(user) -> None:
    """Physician and coordinator pages: everyone else gets 404."""
    if not (user.is_physician or user.is_coordinator):
        raise Http404("Only for physicians and coordinators.")


def require_coordinator(user) -> None:
    """Coordinator pages (downloads): everyone else gets 404."""
    if not user.is_coordinator:
        raise Http404("Only for coordinators.")


def own_diary(view):
    """A patient's diary page: the view gets her own current enrollment; a patient not
    enrolled yet is told so; anyone else gets 404."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        enrollment = own_enrollment(request.user)
        if enrollment is None:
            return render(request, "diary/enrollment_missing.html")
        return view(request, enrollment, *args, **kwargs)

    return wrapped


def enrollment_for(user, study_id: str) -> Enrollment:
    """The enrollment with this study ID if `user` may read it (physician view)."""
    try:
        return visible_enrollments(user).get(study_id=study_id)
    except Enrollment.DoesNotExist:
        raise Http404("No such patient.") from None


def visible_visits(user):
    """Clinic visits of the enrollments `user` may read (voided ones included)."""
    return Visit.objects.filter(enrollment__in=visible_enrollments(user).values("pk"))


def visit_for(user, enrollment: Enrollment, pk: int) -> Visit:
    """A visit of `enrollment` (one `user` may read, from enrollment_for)."""
    if not 0 < pk < 2**63:
        raise Http404("No such visit.")
    try:
        visit = visible_visits(user).get(pk=pk, enrollment=enrollment)
    except Visit.DoesNotExist:
        raise Http404("No such visit.") from None
    visit.enrollment = enrollment
    return visit


def visible_queries(user):
    """Data queries about the enrollments `user` may read (staff)."""
    return DataQuery.objects.filter(enrollment__in=visible_enrollments(user).values("pk"))


def query_for(user, pk: int) -> DataQuery:
    """A data query `user` may read (staff pages)."""
    if not 0 < pk < 2**63:
        raise Http404("No such query.")
    try:
        return visible_queries(user).select_related("enrollment", "visit").get(pk=pk)
    except DataQuery.DoesNotExist:
        raise Http404("No such query.") from None


def own_query(user, enrollment: Enrollment, pk: int) -> DataQuery:
    """A question of her study team about one of her own diary days (the patient)."""
    if not 0 < pk < 2**63:
        raise Http404("No such question.")
    try:
        return DataQuery.objects.get(pk=pk, enrollment=enrollment, target="entry")
    except DataQuery.DoesNotExist:
        raise Http404("No such question.") from None


def alert_for(user, pk: int) -> Alert:
    """An alert about a patient `user` may read (physician view)."""
    if not 0 < pk < 2**63:  # beyond any key: the database would refuse the number
        raise Http404("No such alert.")
    try:
        return Alert.objects.select_related("enrollment").get(
            pk=pk, enrollment__in=visible_enrollments(user).values("pk")
        )
    except Alert.DoesNotExist:
        raise Http404("No such alert.") from None


def own_enrollment(user) -> Enrollment | None:
    """The signed-in patient's own current enrollment, None if she has none yet.

    Raises Http404 for anyone who is not a patient: the diary pages are hers alone.
    """
    if not user.is_authenticated or not user.is_patient:
        raise Http404("The diary is for patients.")
    # Two queries on every diary page: her enrollments (with protocol and arm), then the
    # phases of the one shown, which seed its protocol's layout (as load_with_schedules
    # does for long lists). She is the request's user: her account is not read again.
    enrollments = list(Enrollment.objects.select_related("protocol", "arm").filter(patient=user))
    if not enrollments:
        return None
    enrollment = min(
        enrollments,
        key=lambda e: (_STATUS_PREFERENCE.index(e.status), -e.start_date.toordinal()),
    )
    enrollment.patient = user
    protocols, arms = load_protocols([enrollment.protocol_id])
    # A protocol or arm without phases yet is not loaded: hers stays as read, and her
    # schedule is empty either way.
    enrollment.protocol = protocols.get(enrollment.protocol_id, enrollment.protocol)
    enrollment.arm = arms.get(enrollment.arm_id, enrollment.arm)
    return enrollment


def record_access(reader, what: str, *, study_id: str = "", scope: str = "") -> None:
    """The access log: `reader` (a user, or None for a command run in a shell) read
    `what` of patient `study_id` (or, for a file of many patients, `scope`)."""
    DataAccess.objects.create(
        actor=reader if reader is not None else None,
        actor_name="" if reader is not None else shell_actor(),
        what=what,
        study_id=study_id,
        scope=scope[:200],
    )


def file_scope(protocol, enrollments) -> str:
    """What a file of patient data holds, for the access log."""
    return f"{protocol.slug if protocol else 'all protocols'}, {enrollments.count()} enrollments"


def enrollment_for_reminder_link(token: str) -> Enrollment:
    """The enrollment whose reminders the link in an e-mail controls."""
    try:
        pk = signing.Signer(salt=REMINDER_LINK_SALT).unsign_object(token)
        return Enrollment.objects.select_related("patient").get(pk=pk)
    except (signing.BadSignature, Enrollment.DoesNotExist):
        raise Http404("This link is not valid.") from None
