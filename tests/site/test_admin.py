"""Coordinators run the study in the admin: protocols, enrollment, randomization,
invitations, status, blinding, data corrections and the audit trail."""

import csv
import datetime as dt
import html
import io
import re

import pytest
from django.core import mail
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent
from diary.entries.models import DiaryEntry
from diary.figures import summaries
from diary.people.models import User
from diary.trial.blinding import UNBLINDED_FILE
from diary.trial.models import Enrollment, Phase, Protocol, RandomizationSlot
from tests.factories import (
    PASSWORD,
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    ProtocolFactory,
    VisitFactory,
    builtin_arm,
    make_arm,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator(client):
    user = CoordinatorFactory()
    client.force_login(user)
    return user


@pytest.fixture
def statistician(client):
    """A coordinator with allocation access (the unblinded statistician)."""
    user = CoordinatorFactory(allocation_access=True)
    client.force_login(user)
    return user


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# Access ----------------------------------------------------------------------------


def test_coordinator_without_superuser_rights_can_use_every_admin_page(client, coordinator):
    entry = EntryFactory()
    enrollment, protocol = entry.enrollment, entry.enrollment.protocol
    pages = [
        "/admin/",
        "/admin/diary/protocol/",
        "/admin/diary/protocol/add/",
        f"/admin/diary/protocol/{protocol.pk}/change/",
        f"/admin/diary/protocol/{protocol.pk}/copy/",
        f"/admin/diary/protocol/{protocol.pk}/history/",
        "/admin/diary/enrollment/",
        "/admin/diary/enrollment/add/",
        f"/admin/diary/enrollment/{enrollment.pk}/change/",
        f"/admin/diary/enrollment/{enrollment.pk}/history/",
        f"/admin/diary/enrollment/{enrollment.pk}/audit/",
        f"/admin/diary/enrollment/{enrollment.pk}/audit.csv",
        "/admin/diary/enrollment/?phase=treatment",
        "/admin/diary/diaryentry/",
        "/admin/diary/diaryentry/add/",
        f"/admin/diary/diaryentry/{entry.pk}/change/",
        "/admin/diary/user/",
        "/admin/diary/user/add/",
        "/admin/diary/auditevent/",
    ]
    for url in pages:
        assert client.get(url, follow=True).status_code == 200, url


def test_a_blinded_coordinator_does_not_see_the_arm_admin(client, coordinator):
    enrollment = EnrollmentFactory()
    arm = enrollment.arm
    for url in [
        "/admin/diary/arm/",
        f"/admin/diary/arm/?enrollments={enrollment.pk}",
        "/admin/diary/arm/add/",
        f"/admin/diary/arm/{arm.pk}/change/",
        f"/admin/diary/arm/{arm.pk}/history/",
    ]:
        assert client.get(url).status_code == 403, url
    assert "/admin/diary/arm/" not in client.get("/admin/").content.decode()
    # The protocol page still shows the arm's schedule, without a link to its page.
    page = client.get(f"/admin/diary/protocol/{arm.protocol_id}/change/").content.decode()
    assert f"/admin/diary/arm/{arm.pk}/change/" not in page
    # While a protocol has nobody enrolled she writes its arms' schedules.
    unused = make_arm([("baseline", 14)], code="Z", protocol=ProtocolFactory())
    assert client.get(f"/admin/diary/arm/{unused.pk}/change/").status_code == 200


def test_allocation_access_sees_the_arm_admin(client, statistician):
    enrollment = EnrollmentFactory()
    for url in [
        "/admin/diary/arm/",
        f"/admin/diary/arm/{enrollment.arm_id}/change/",
        f"/admin/diary/arm/{enrollment.arm_id}/history/",
    ]:
        assert client.get(url).status_code == 200, url


def test_patients_and_physicians_cannot_open_the_admin(client):
    for user in (PatientFactory(), PhysicianFactory()):
        client.force_login(user)
        response = client.get("/admin/diary/enrollment/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_unknown_objects_get_404(client, statistician):
    for url in [
        "/admin/diary/enrollment/999/audit/",
        "/admin/diary/enrollment/999/unblind/",
        "/admin/diary/enrollment/999/tell-patient/",
        "/admin/diary/enrollment/study/NOPE/",
        "/admin/diary/protocol/999/copy/",
        "/admin/diary/protocol/999/unblind/",
        "/admin/diary/protocol/999/randomization-list/",
    ]:
        assert client.get(url).status_code == 404, url


# Protocols ---------------------------------------------------------------------------


def test_coordinator_creates_a_protocol_then_its_phases_on_the_arm(client, coordinator):
    response = client.post(
        "/admin/diary/protocol/add/",
        {
            "slug": "ldn-fm-open",
            "name": "Open-label extension",
            "blinding": "open",
            "block_size": "1",
            "randomization_seed": "open-extension-2026",
            "arms-TOTAL_FORMS": "1",
            "arms-INITIAL_FORMS": "0",
            "arms-0-code": "X",
            "arms-0-name": "Extension",
        },
    )
    assert response.status_code == 302, response.content.decode()
    arm = Protocol.objects.get(slug="ldn-fm-open").arms.get()
    response = client.post(
        f"/admin/diary/arm/{arm.pk}/change/",
        {
            "code": "X",
            "name": "Extension",
            "change_reason": "Schedule from the protocol document",
            "phases-TOTAL_FORMS": "2",
            "phases-INITIAL_FORMS": "0",
            "phases-0-order": "1",
            "phases-0-kind": "baseline",
            "phases-0-days": "14",
            "phases-1-order": "2",
            "phases-1-kind": "ldn",
            "phases-1-days": "56",
            "phases-1-dose_mg": "4.5",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert [(p.kind, p.days) for p in arm.phases.all()] == [("baseline", 14), ("ldn", 56)]
    reasons = {r.history_change_reason for r in Phase.history.filter(arm=arm)}
    assert reasons == {"Schedule from the protocol document"}
    page = client.get(f"/admin/diary/protocol/{arm.protocol_id}/change/").content.decode()
    assert "Baseline 14 d → LDN 56 d (4.5 mg)" in page


def phases_form(arm, phases, reason="From the protocol document"):
    data = {
        "code": arm.code,
        "name": arm.name,
        "change_reason": reason,
        "phases-TOTAL_FORMS": str(len(phases)),
        "phases-INITIAL_FORMS": "0",
    }
    for n, (kind, days) in enumerate(phases):
        data |= {f"phases-{n}-order": str(n + 1), f"phases-{n}-kind": kind}
        data |= {f"phases-{n}-days": str(days)}
    return data


def test_a_blinded_protocol_whose_arms_could_be_told_apart_is_refused(client, coordinator):
    protocol = ProtocolFactory(slug="crossover-2027", blinding="double")
    first = make_arm([("baseline", 14), ("ldn", 84), ("placebo", 28)], code="A", protocol=protocol)
    second = make_arm([], code="B", protocol=protocol)
    response = client.post(
        f"/admin/diary/arm/{second.pk}/change/",
        phases_form(second, [("baseline", 14), ("placebo", 28), ("ldn", 70)]),
    )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "A blinded reader would tell the arms apart by their schedules" in page
    assert "arm B: Baseline 14 d → Treatment 98 d" in page
    assert not second.phases.exists()
    response = client.post(
        f"/admin/diary/arm/{second.pk}/change/",
        phases_form(second, [("baseline", 14), ("placebo", 28), ("ldn", 84)]),
    )
    assert response.status_code == 302, response.content.decode()
    assert [p.days for p in second.phases.all()] == [14, 28, 84]
    assert protocol.blinding_problem() is None
    assert first.phases.count() == 3

    # An open-label protocol may have arms of any shape, but cannot then become blinded.
    open_protocol = ProtocolFactory(slug="dose-finding", blinding="open")
    make_arm([("baseline", 7), ("ldn", 28)], code="A", protocol=open_protocol)
    make_arm([("baseline", 7), ("ldn", 56)], code="B", protocol=open_protocol)
    response = client.post(
        f"/admin/diary/protocol/{open_protocol.pk}/change/",
        {
            "name": open_protocol.name,
            "blinding": "double",
            "block_size": "4",
            "change_reason": "Make it blinded",
            "arms-TOTAL_FORMS": "2",
            "arms-INITIAL_FORMS": "2",
            **{
                f"arms-{n}-{field}": value
                for n, arm in enumerate(open_protocol.arms.all())
                for field, value in (
                    ("id", arm.pk),
                    ("protocol", open_protocol.pk),
                    ("code", arm.code),
                    ("name", arm.name),
                )
            },
        },
    )
    assert "A blinded reader would tell the arms apart" in html.unescape(response.content.decode())
    open_protocol.refresh_from_db()
    assert open_protocol.blinding == "open"


def test_a_protocol_with_enrollments_cannot_change_its_phases(client, coordinator):
    enrollment = EnrollmentFactory()
    arm = enrollment.arm
    response = client.get(f"/admin/diary/arm/{arm.pk}/change/")
    assert "can no longer change" in messages_of(response)
    phase = arm.phases.get(order=1)
    client.post(
        f"/admin/diary/arm/{arm.pk}/change/",
        {
            "name": arm.name,
            "change_reason": "Try to shorten the baseline",
            "phases-TOTAL_FORMS": "1",
            "phases-INITIAL_FORMS": "1",
            "phases-0-id": phase.pk,
            "phases-0-arm": arm.pk,
            "phases-0-order": "1",
            "phases-0-kind": "baseline",
            "phases-0-days": "7",
        },
    )
    phase.refresh_from_db()
    assert phase.days == 14
    page = client.get(f"/admin/diary/protocol/{arm.protocol_id}/change/").content.decode()
    assert "Copy to a new version" in page
    assert 'name="blinding"' not in page  # read only once enrolled


def test_copy_to_a_new_version(client, coordinator):
    original = builtin_arm("ldn-fm-2013").protocol
    response = client.post(f"/admin/diary/protocol/{original.pk}/copy/")
    copy = Protocol.objects.get(slug="ldn-fm-2013-v2")
    assert response["Location"] == f"/admin/diary/protocol/{copy.pk}/change/"
    assert copy.blinding == original.blinding and copy.block_size == original.block_size
    assert copy.randomization_seed != original.randomization_seed
    schedule = {a.code: [(p.kind, p.days) for p in a.phases.all()] for a in copy.arms.all()}
    assert schedule["A"] == [("baseline", 14), ("ldn", 84), ("placebo", 28), ("followup", 28)]
    assert copy.history.get().history_change_reason == "Copied from ldn-fm-2013"
    client.post(f"/admin/diary/protocol/{copy.pk}/copy/")
    assert Protocol.objects.filter(slug="ldn-fm-2013-v3").exists()


# Enrollment and randomization -----------------------------------------------------------


def enrollment_form(protocol, **values):
    return {
        "study_id": "FM-100",
        "email": "Ann.Patient@example.org",
        "first_name": "Ann",
        "last_name": "Patient",
        "physician": PhysicianFactory().pk,
        "protocol": protocol.pk,
        "arm": "",
        "start_date": "2026-03-01",
        "timezone": "America/Chicago",
        "status": "active",
        **values,
    }


def test_enrolling_randomizes_creates_the_account_and_sends_the_invitation(
    client, coordinator, django_capture_on_commit_callbacks
):
    protocol = builtin_arm("ldn-fm-2013").protocol
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/diary/enrollment/add/", enrollment_form(protocol))
    assert response.status_code == 302, response.content.decode()
    enrollment = Enrollment.objects.get(study_id="FM-100")
    assert enrollment.randomization_number == 1
    assert enrollment.arm.code == first_arm(protocol)
    # A blinded coordinator is not told the arm.
    text = messages_of(client.get(response["Location"]))
    assert "FM-100 is enrolled; her arm is concealed." in text
    assert "arm A" not in text and "arm B" not in text
    patient = enrollment.patient
    assert (patient.username, patient.email, patient.role) == (
        "ann.patient@example.org",
        "Ann.Patient@example.org",
        "patient",
    )
    assert not patient.has_usable_password()
    history = enrollment.history.get()
    assert (history.history_user, history.history_change_reason) == (coordinator, "Enrolled")
    (message,) = mail.outbox
    assert message.to == ["Ann.Patient@example.org"]
    assert "/accounts/invite/" in message.body
    assert AuditEvent.objects.get(action=AuditAction.INVITATION_SENT).enrollment == enrollment


def first_arm(protocol):
    from diary.trial.randomization import arm_code_for

    codes = list(protocol.arms.values_list("code", flat=True))
    return arm_code_for(protocol.randomization_seed, protocol.block_size, codes, 1)


def test_picking_an_arm_is_refused_on_a_blinded_protocol(client, coordinator):
    arm = builtin_arm("ldn-fm-2013", "B")
    response = client.post(
        "/admin/diary/enrollment/add/", enrollment_form(arm.protocol, arm=arm.pk)
    )
    assert response.status_code == 200
    assert "assigned by randomization only. Leave the arm blank." in response.content.decode()
    assert not Enrollment.objects.exists()
    assert not User.objects.filter(email__iexact="ann.patient@example.org").exists()


def test_picking_an_arm_works_on_an_open_label_protocol(client, coordinator):
    arm = make_arm([("baseline", 7), ("ldn", 28)], blinding="open", code="X")
    response = client.post(
        "/admin/diary/enrollment/add/", enrollment_form(arm.protocol, arm=arm.pk)
    )
    assert response.status_code == 302, response.content.decode()
    enrollment = Enrollment.objects.get()
    assert (enrollment.arm, enrollment.randomization_number) == (arm, None)


def test_a_protocol_that_cannot_randomize_is_refused_with_a_message(client, coordinator):
    protocol = ProtocolFactory(blinding="double", block_size=4)
    response = client.post("/admin/diary/enrollment/add/", enrollment_form(protocol))
    assert "has no arms yet" in response.content.decode()
    for code in "ABC":
        make_arm([("baseline", 7)], code=code, protocol=protocol)
    response = client.post("/admin/diary/enrollment/add/", enrollment_form(protocol))
    assert "not a multiple of its 3 arms" in response.content.decode()
    make_arm([], code="D", protocol=protocol)
    response = client.post("/admin/diary/enrollment/add/", enrollment_form(protocol))
    assert "Arm D of" in response.content.decode()
    assert not Enrollment.objects.exists()


def test_an_arm_of_another_protocol_is_refused(client, coordinator):
    protocol = make_arm([("baseline", 7)], blinding="open").protocol
    other = builtin_arm("ldn-fm-2009", "P")
    response = client.post("/admin/diary/enrollment/add/", enrollment_form(protocol, arm=other.pk))
    assert "belongs to another protocol" in response.content.decode()
    assert not Enrollment.objects.exists()


def test_an_existing_patient_is_reused_and_a_staff_address_refused(client, coordinator):
    protocol = builtin_arm().protocol
    ann = PatientFactory(email="ann@example.org")
    client.post("/admin/diary/enrollment/add/", enrollment_form(protocol, email="ANN@example.org"))
    assert Enrollment.objects.get().patient == ann
    doctor = PhysicianFactory(email="dr@example.org")
    response = client.post(
        "/admin/diary/enrollment/add/",
        enrollment_form(protocol, study_id="FM-101", email=doctor.email),
    )
    assert "belongs to a physician account, not a patient" in response.content.decode()


def test_duplicate_study_id_is_refused_with_a_message(client, coordinator):
    EnrollmentFactory(study_id="FM-200")
    response = client.post(
        "/admin/diary/enrollment/add/", enrollment_form(builtin_arm().protocol, study_id="FM-200")
    )
    assert "Enrollment with this Study ID already exists." in response.content.decode()


def test_enrollments_in_a_row_take_consecutive_randomization_slots(client, coordinator):
    protocol = builtin_arm().protocol
    for n in range(8):
        client.post(
            "/admin/diary/enrollment/add/",
            enrollment_form(protocol, study_id=f"FM-{n:03d}", email=f"p{n}@example.org"),
        )
    enrollments = Enrollment.objects.order_by("randomization_number")
    assert [e.randomization_number for e in enrollments] == list(range(1, 9))
    codes = [e.arm.code for e in enrollments]
    assert codes[:4].count("A") == 2 and codes[4:].count("A") == 2  # balanced blocks of 4


def test_enrolling_is_refused_once_the_randomization_list_is_used_up(client, coordinator):
    protocol = builtin_arm().protocol
    RandomizationSlot.objects.create(protocol=protocol, sequence=1, arm=builtin_arm(code="B"))
    response = client.post("/admin/diary/enrollment/add/", enrollment_form(protocol))
    assert response.status_code == 302, response.content.decode()
    enrollment = Enrollment.objects.get()
    assert (enrollment.arm.code, enrollment.randomization_number) == ("B", 1)
    response = client.post(
        "/admin/diary/enrollment/add/",
        enrollment_form(protocol, study_id="FM-101", email="bea@example.org"),
    )
    assert "The randomization list of ldn-fm-2013 is used up (1 row, all allocated)" in (
        response.content.decode()
    )
    assert Enrollment.objects.count() == 1
    assert not User.objects.filter(email="bea@example.org").exists()


# Invitations ---------------------------------------------------------------------------


def invitation_link():
    return re.search(r"http\S+/accounts/invite/\S+/", mail.outbox[-1].body).group(0)


def invited_patient(client, coordinator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/diary/enrollment/add/", enrollment_form(builtin_arm().protocol))
    client.logout()
    return Enrollment.objects.get(study_id="FM-100")


def choose_password(client, link):
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    if not response.context["validlink"]:
        return response
    return client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "a-long-new-pass-2026", "new_password2": "a-long-new-pass-2026"},
        follow=True,
    )


def test_invitation_link_sets_the_password_once(
    client, coordinator, django_capture_on_commit_callbacks
):
    enrollment = invited_patient(client, coordinator, django_capture_on_commit_callbacks)
    link = invitation_link()
    response = choose_password(client, link)
    assert response.status_code == 200
    assert response.wsgi_request.user == enrollment.patient  # signed in
    enrollment.patient.refresh_from_db()
    assert enrollment.patient.check_password("a-long-new-pass-2026")
    client.logout()
    again = choose_password(client, link)
    assert "This invitation no longer works" in again.content.decode()


def test_invitation_link_expires(
    client, coordinator, django_capture_on_commit_callbacks, settings, time_machine
):
    invited_patient(client, coordinator, django_capture_on_commit_callbacks)
    time_machine.move_to(
        timezone.now() + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    )
    response = choose_password(client, invitation_link())
    assert "This invitation no longer works" in response.content.decode()


def test_coordinator_resends_an_invitation(client, coordinator):
    enrollment = EnrollmentFactory(patient=PatientFactory(password=None))
    enrollment.patient.set_unusable_password()
    enrollment.patient.save()
    response = client.post(f"/admin/diary/enrollment/{enrollment.pk}/invite/", follow=True)
    assert "Invitation sent for 1 enrollment" in messages_of(response)
    assert mail.outbox[-1].to == [enrollment.patient.email]
    # She chose a password since: the action says to use "Forgot your password?".
    enrollment.patient.set_password(PASSWORD)
    enrollment.patient.save()
    response = client.post(
        "/admin/diary/enrollment/",
        {"action": "resend_invitations", "_selected_action": [enrollment.pk]},
        follow=True,
    )
    assert "already chosen a password" in messages_of(response)
    assert len(mail.outbox) == 1


def test_physicians_are_invited_from_the_user_list(client, coordinator):
    doctor = PhysicianFactory()
    doctor.set_unusable_password()
    doctor.save()
    response = client.post(
        "/admin/diary/user/",
        {"action": "send_password_links", "_selected_action": [doctor.pk]},
        follow=True,
    )
    assert "A link to choose a password went to 1 account" in messages_of(response)
    assert mail.outbox[-1].to == [doctor.email]
    assert "follow your patients" in mail.outbox[-1].body


# Status ----------------------------------------------------------------------------------


def change_enrollment(client, enrollment, **values):
    data = {
        "physician": enrollment.physician_id,
        "status": enrollment.status,
        "withdrawn_on": "",
        "withdrawal_reason": "",
        "timezone": enrollment.timezone,
        "change_reason": "Visit 3",
        **values,
    }
    return client.post(f"/admin/diary/enrollment/{enrollment.pk}/change/", data)


def test_withdrawal_needs_a_date_and_reason_and_closes_the_diary(client, coordinator):
    enrollment = EnrollmentFactory()
    response = change_enrollment(client, enrollment, status="withdrawn")
    page = response.content.decode()
    assert "Give the date of the withdrawal." in page
    assert "Give the reason for the withdrawal." in page
    yesterday = enrollment.local_today() - dt.timedelta(days=1)
    response = change_enrollment(
        client,
        enrollment,
        status="withdrawn",
        withdrawn_on=yesterday.isoformat(),
        withdrawal_reason="Moved abroad",
        change_reason="Phone call",
    )
    assert response.status_code == 302, response.content.decode()
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.withdrawn_on) == ("withdrawn", yesterday)
    assert enrollment.history.first().history_change_reason == "Phone call"

    client.force_login(enrollment.patient)
    today = enrollment.local_today()
    response = client.post(
        f"/diary/{today:%Y-%m-%d}/",
        {"pain": 3, "fatigue": 3, "sleep_quality": 5, "vivid_dreams": "no", "headache": "no"},
    )
    assert "left the study" in response.content.decode()
    assert not DiaryEntry.objects.exists()


def test_status_cannot_go_back(client, coordinator):
    enrollment = EnrollmentFactory(status="completed")
    response = change_enrollment(client, enrollment, status="active")
    assert "its status is final" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"


def test_every_change_needs_a_reason(client, coordinator):
    enrollment = EnrollmentFactory()
    response = change_enrollment(client, enrollment, timezone="Europe/Madrid", change_reason="")
    assert "Say why you make this change" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.timezone == "America/Los_Angeles"


# Blinding ---------------------------------------------------------------------------------


def test_unblinding_the_care_team_needs_a_reason_and_is_audited(client, statistician):
    enrollment = EnrollmentFactory()
    response = client.post(f"/admin/diary/enrollment/{enrollment.pk}/unblind/", {"reason": " "})
    assert response.status_code == 400
    assert "Give a reason" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.care_team_unblinded_at is None

    physician = enrollment.physician
    client.force_login(physician)
    page = client.get(f"/physician/patients/{enrollment.study_id}/").content.decode()
    assert "LDN" not in page

    client.force_login(statistician)
    response = client.post(
        f"/admin/diary/enrollment/{enrollment.pk}/unblind/", {"reason": "Emergency: overdose"}
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.care_team_unblinded_by, enrollment.care_team_unblinding_reason) == (
        statistician,
        "Emergency: overdose",
    )
    assert enrollment.patient_unblinded_at is None  # she stays blinded
    event = AuditEvent.objects.get(action=AuditAction.UNBLINDED_CARE_TEAM)
    assert (event.actor, event.enrollment, event.reason) == (
        statistician,
        enrollment,
        "Emergency: overdose",
    )
    assert "arm" not in event.details
    trail = client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit/").content.decode()
    assert "Emergency: overdose" in trail and "care team unblinded" in trail

    client.force_login(physician)
    page = client.get(f"/physician/patients/{enrollment.study_id}/").content.decode()
    assert "LDN" in page
    client.force_login(enrollment.patient)
    assert "LDN" not in client.get("/diary/").content.decode()


def test_unblinding_the_protocol_shows_the_comparison_but_tells_no_patient(client, statistician):
    enrollment = EnrollmentFactory()
    protocol = enrollment.protocol
    response = client.post(f"/admin/diary/protocol/{protocol.pk}/unblind/", {"reason": ""})
    assert "Give a reason" in response.content.decode()
    client.post(f"/admin/diary/protocol/{protocol.pk}/unblind/", {"reason": "Database locked"})
    protocol.refresh_from_db()
    assert protocol.unblinded_by == statistician
    assert AuditEvent.objects.get(action=AuditAction.UNBLINDED_PROTOCOL).reason == (
        "Database locked"
    )
    response = client.post(f"/admin/diary/protocol/{protocol.pk}/unblind/", {"reason": "again"})
    assert "already unblinded" in response.content.decode()
    client.force_login(enrollment.physician)
    assert "LDN versus placebo" in client.get("/physician/cohort/").content.decode()
    client.force_login(enrollment.patient)
    page = client.get("/diary/").content.decode()
    assert "Treatment, day 7 of 112" in page and "LDN" not in page


# Data corrections ------------------------------------------------------------------------


def entry_form(enrollment, day, **values):
    return {
        "enrollment": enrollment.pk,
        "date": day.isoformat(),
        "pain": "4",
        "fatigue": "5",
        "sleep_quality": "6",
        "vivid_dreams": "no",
        "headache": "no",
        "dose_taken": "",
        "tolerability": "",
        "notes": "From the paper diary",
        "void_reason": "",
        "change_reason": "Paper back-up, visit 2",
        **values,
    }


def test_staff_entry_needs_a_reason_and_is_marked_as_staff(client, coordinator):
    enrollment = EnrollmentFactory()
    day = enrollment.start_date + dt.timedelta(days=2)  # baseline
    response = client.post(
        "/admin/diary/diaryentry/add/", entry_form(enrollment, day, change_reason="")
    )
    assert "Say why you make this change" in response.content.decode()
    assert not DiaryEntry.objects.exists()
    response = client.post("/admin/diary/diaryentry/add/", entry_form(enrollment, day))
    assert response.status_code == 302, response.content.decode()
    entry = DiaryEntry.objects.get()
    assert (entry.source, entry.pain, entry.late) == ("staff", 4, False)
    history = entry.history.get()
    assert (history.history_user, history.history_change_reason) == (
        coordinator,
        "Paper back-up, visit 2",
    )


def test_staff_entry_outside_the_schedule_or_with_treatment_items_is_refused(client, coordinator):
    enrollment = EnrollmentFactory()
    future = enrollment.local_today() + dt.timedelta(days=1)
    response = client.post("/admin/diary/diaryentry/add/", entry_form(enrollment, future))
    assert "is in the future" in response.content.decode()
    baseline = enrollment.start_date
    response = client.post(
        "/admin/diary/diaryentry/add/", entry_form(enrollment, baseline, tolerability="90")
    )
    assert "tolerability must be blank outside LDN and placebo phases" in (
        response.content.decode()
    )
    EntryFactory(enrollment=enrollment, date=baseline)
    response = client.post("/admin/diary/diaryentry/add/", entry_form(enrollment, baseline))
    assert "already has an entry for" in response.content.decode()
    assert DiaryEntry.objects.count() == 1


def test_correcting_and_voiding_an_entry(client, coordinator):
    enrollment = EnrollmentFactory()
    entry = EntryFactory(enrollment=enrollment, date=enrollment.start_date, pain=9)
    url = f"/admin/diary/diaryentry/{entry.pk}/change/"
    data = entry_form(enrollment, entry.date, pain="3", change_reason="Patient typo")
    data.pop("enrollment"), data.pop("date")
    assert client.post(url, data).status_code == 302
    entry.refresh_from_db()
    assert (entry.pain, entry.source) == (3, "staff")

    as_of = enrollment.local_today()
    before = summaries.summarize(Enrollment.objects.all(), as_of, UNBLINDED_FILE)
    assert before[0].patients[0].phases[0].entries == 1
    response = client.post(url, {**data, "voided": "on", "change_reason": "Wrong patient"})
    assert "Say why the entry is voided." in response.content.decode()
    client.post(url, {**data, "voided": "on", "void_reason": "Belongs to FM-999"})
    entry.refresh_from_db()
    assert entry.voided
    after = summaries.summarize(Enrollment.objects.all(), as_of, UNBLINDED_FILE)
    assert after[0].patients[0].phases[0].entries == 0
    assert client.post(f"/admin/diary/diaryentry/{entry.pk}/delete/").status_code == 403
    assert DiaryEntry.objects.filter(pk=entry.pk).exists()
    trail = client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit/").content.decode()
    assert "voided: False → True" in trail and "Patient typo" in trail


# Audit trail --------------------------------------------------------------------------------


def test_audit_trail_lists_who_when_what_and_why_and_exports_csv(client, coordinator):
    enrollment = EnrollmentFactory()
    change_enrollment(client, enrollment, timezone="Europe/Madrid", change_reason="Moved")
    client.force_login(CoordinatorFactory(allocation_access=True))
    client.post(f"/admin/diary/enrollment/{enrollment.pk}/unblind/", {"reason": "Surgery"})
    client.force_login(coordinator)
    response = client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["when", "who", "object", "action", "changes", "why"]
    changed = [r for r in rows if r[5] == "Moved"]
    assert changed[0][1] == coordinator.username
    assert "timezone: America/Los_Angeles → Europe/Madrid" in changed[0][4]
    assert any(r[3] == "care team unblinded for a patient" and r[5] == "Surgery" for r in rows)


# Lists ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/diary/enrollment/",
        "/admin/diary/enrollment/?phase=treatment",
        "/admin/diary/diaryentry/",
        "/admin/diary/protocol/",
    ],
)
def test_admin_lists_take_the_same_queries_for_5_and_50_enrollments(
    client, coordinator, url, django_assert_max_num_queries
):
    def add(count):
        for _ in range(count):
            EntryFactory(enrollment=EnrollmentFactory())

    add(5)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as five:
        assert client.get(url).status_code == 200
    add(45)
    with CaptureQueriesContext(connection) as fifty:
        assert client.get(url).status_code == 200
    assert len(fifty) == len(five), [q["sql"] for q in fifty.captured_queries]


def test_enrollment_list_search_and_filters(client, coordinator):
    ann = EnrollmentFactory(study_id="FM-777", patient=PatientFactory(email="ann@example.org"))
    EnrollmentFactory(study_id="FM-778")
    for query in ("FM-777", "ann@example.org"):
        response = client.get("/admin/diary/enrollment/", {"q": query})
        assert list(response.context["cl"].result_list) == [ann]
    EnrollmentFactory(study_id="FM-779", arm=builtin_arm("ldn-fm-2013", "B"))
    # A blinded coordinator filters by what she sees: one treatment phase in both arms.
    response = client.get("/admin/diary/enrollment/", {"phase": "treatment"})
    assert len(response.context["cl"].result_list) == 3
    for kind in ("ldn", "placebo"):
        response = client.get("/admin/diary/enrollment/", {"phase": kind})
        assert len(response.context["cl"].result_list) == 0
    page = client.get("/admin/diary/enrollment/").content.decode()
    assert page.count('<td class="field-arm">Blinded</td>') == 3
    # The arm filter is not offered, and asking for it in the URL is refused.
    for lookup in ({"arm": str(builtin_arm().pk)}, {"arm__code": "A"}, {"randomization_number": 1}):
        assert client.get("/admin/diary/enrollment/", lookup).status_code == 400, lookup

    client.force_login(CoordinatorFactory(allocation_access=True))
    response = client.get("/admin/diary/enrollment/", {"phase": "ldn"})
    assert len(response.context["cl"].result_list) == 2  # arm A is on LDN on day 21
    response = client.get("/admin/diary/enrollment/", {"phase": "placebo"})
    assert [e.study_id for e in response.context["cl"].result_list] == ["FM-779"]
    response = client.get(
        "/admin/diary/enrollment/", {"arm": str(builtin_arm("ldn-fm-2013", "B").pk)}
    )
    assert [e.study_id for e in response.context["cl"].result_list] == ["FM-779"]


def test_protocol_factory_protocols_are_not_locked_until_enrolled():
    protocol = ProtocolFactory()
    from diary.trial import protocols

    assert not protocols.protocol_locked(protocol)


def test_audit_trail_names_accounts_and_takes_fixed_queries(
    client, coordinator, django_assert_num_queries
):
    from diary.entries import history

    enrollment = EnrollmentFactory(physician=PhysicianFactory(username="dr-ames"))
    for offset in range(2):
        EntryFactory(enrollment=enrollment, date=enrollment.start_date + dt.timedelta(offset))
    rows = history.trail(enrollment, coordinator)
    created = next(r for r in rows if r.object.startswith("Enrollment"))
    assert "physician: dr-ames" in created.changes
    assert f"patient: {enrollment.patient.username}" in created.changes
    assert "arm: concealed" in created.changes  # a blinded coordinator
    statistician = CoordinatorFactory(allocation_access=True)
    created = next(
        r for r in history.trail(enrollment, statistician) if r.object.startswith("Enrollment")
    )
    assert f"arm: {enrollment.arm.code}" in created.changes
    # history of enrollment, entries, visits, protocol, arms, phases; names of users,
    # arms, protocols, enrollments; the audit events
    with django_assert_num_queries(11):
        history.trail(enrollment, coordinator)
    for offset in range(2, 12):
        EntryFactory(enrollment=enrollment, date=enrollment.start_date + dt.timedelta(offset))
        VisitFactory(enrollment=enrollment, visit_date=enrollment.start_date + dt.timedelta(offset))
    with django_assert_num_queries(11):
        history.trail(enrollment, coordinator)


def test_an_old_version_can_be_read_but_never_saved_back(client, coordinator):
    enrollment = EnrollmentFactory()
    change_enrollment(client, enrollment, timezone="Europe/Madrid", change_reason="Moved")
    oldest = enrollment.history.earliest()
    url = f"/admin/diary/enrollment/{enrollment.pk}/history/{oldest.history_id}/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"timezone": "America/Los_Angeles", "change_reason": "Revert"})
    assert response.status_code == 405
    enrollment.refresh_from_db()
    assert enrollment.timezone == "Europe/Madrid"
    doctor = PhysicianFactory()
    version = doctor.history.earliest()
    url = f"/admin/diary/user/{doctor.pk}/history/{version.history_id}/"
    assert client.post(url, {"username": doctor.username}).status_code == 405


def test_malformed_ids_on_history_pages_are_404_on_every_model_with_history(client, coordinator):
    from django.contrib import admin

    from diary.admin.base import HistoryAdmin

    entry = EntryFactory()
    with_history = [
        model
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, HistoryAdmin)
    ]
    assert len(with_history) >= 5
    for model in with_history:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}"
        for url in [
            f"{base}/{entry.enrollment.pk}/history/abc/",
            f"{base}/{entry.enrollment.pk}/history/1.5/",
            f"{base}/abc/history/",
            f"{base}/1.5/history/1/",
        ]:
            assert client.get(url).status_code in (403, 404), url
