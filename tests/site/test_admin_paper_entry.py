"""A coordinator types a paper diary page into the admin: the enrollment is picked by
study ID (an autocomplete that shows nothing of the arm, and only enrollments the
reader may read), and each yes/no item is yes, no or not answered."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission

from diary.entries.models import DiaryEntry
from tests.factories import CoordinatorFactory, EnrollmentFactory, PhysicianFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/diary/diaryentry/add/"


def autocomplete(client, term):
    return client.get(
        "/admin/autocomplete/",
        {
            "term": term,
            "app_label": "diary",
            "model_name": "diaryentry",
            "field_name": "enrollment",
        },
    )


@pytest.fixture
def coordinator(client):
    user = CoordinatorFactory()  # blinded: no allocation access
    client.force_login(user)
    return user


@pytest.fixture
def demo3():
    EnrollmentFactory(study_id="DEMO-004")
    return EnrollmentFactory(study_id="DEMO-003")


def paper_page(enrollment, day, **values):
    return {
        "enrollment": enrollment.pk,
        "date": day.isoformat(),
        "pain": "4",
        "fatigue": "5",
        "sleep_quality": "6",
        "vivid_dreams": "yes",
        "headache": "no",
        "dose_taken": "",
        "tolerability": "",
        "notes": "",
        "void_reason": "",
        "change_reason": "Paper back-up, visit 2",
        **values,
    }


# Picking the enrollment ---------------------------------------------------------------


@pytest.mark.parametrize("term", ["003", "DEMO-003", "demo-003"])
def test_the_autocomplete_finds_the_enrollment_by_study_id_and_shows_only_it(
    client, coordinator, demo3, term
):
    response = autocomplete(client, term)
    assert response.status_code == 200
    # The study ID and the row id only: no arm, protocol, phase or allocation.
    assert response.json()["results"] == [{"id": str(demo3.pk), "text": "DEMO-003"}]
    body = response.content.decode()
    for arm in demo3.protocol.arms.all():
        assert arm.name not in body and f'"{arm.code}"' not in body
    assert "randomization" not in body


def test_the_add_form_picks_the_enrollment_with_the_autocomplete(client, coordinator):
    page = client.get(ADD).content.decode()
    select = re.search(r'<select name="enrollment"[^>]*>', page).group(0)
    assert "admin-autocomplete" in select and 'data-ajax--url="/admin/autocomplete/"' in select
    assert 'name="enrollment" type="text"' not in page  # no raw id box


def test_the_autocomplete_offers_only_enrollments_the_reader_may_read(client, demo3):
    # A staff account with the admin's view permission, but only a physician's reach
    # (diary.access): her own patient, nobody else's.
    physician = PhysicianFactory(is_staff=True)
    physician.user_permissions.add(Permission.objects.get(codename="view_enrollment"))
    own = EnrollmentFactory(study_id="DEMO-013", physician=physician)
    client.force_login(physician)
    assert autocomplete(client, "003").json()["results"] == []
    assert autocomplete(client, "DEMO").json()["results"] == [
        {"id": str(own.pk), "text": "DEMO-013"}
    ]

    # Staff without the permission get nothing at all.
    client.force_login(PhysicianFactory(is_staff=True))
    response = autocomplete(client, "003")
    assert response.status_code == 403 and b"DEMO-003" not in response.content


def test_an_entry_for_an_enrollment_the_reader_may_not_read_is_refused(client, demo3):
    physician = PhysicianFactory(is_staff=True)
    physician.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_enrollment", "add_diaryentry"])
    )
    client.force_login(physician)
    response = client.post(ADD, paper_page(demo3, demo3.start_date))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not DiaryEntry.objects.exists()


# Yes, no or not answered ------------------------------------------------------------------


def test_the_add_form_offers_yes_no_and_not_answered(client, coordinator):
    page = client.get(ADD).content.decode()
    for name in ("vivid_dreams", "headache", "dose_taken"):
        radios = re.findall(rf'<input type="radio" name="{name}" value="([^"]*)"', page)
        assert radios == ["yes", "no", ""], name
        assert f'type="checkbox" name="{name}"' not in page
    assert page.count("Not answered") == 3


def test_a_blank_optional_item_is_saved_as_not_answered(client, coordinator, demo3):
    ldn_day = demo3.start_date + dt.timedelta(days=15)  # arm A: LDN from day 15
    response = client.post(ADD, paper_page(demo3, ldn_day, tolerability="80"))
    assert response.status_code == 302, response.content.decode()
    entry = DiaryEntry.objects.get()
    assert (entry.vivid_dreams, entry.headache, entry.dose_taken) == (True, False, None)
    assert entry.source == "staff"


def test_a_blank_required_item_is_refused_with_a_message(client, coordinator, demo3):
    response = client.post(ADD, paper_page(demo3, demo3.start_date, headache=""))
    assert response.status_code == 200
    assert "Headache is asked every diary day: choose Yes or No." in response.content.decode()
    assert not DiaryEntry.objects.exists()


def test_a_paper_entry_is_kept_in_the_history_with_its_reason(client, coordinator, demo3):
    response = client.post(ADD, paper_page(demo3, demo3.start_date))
    assert response.status_code == 302, response.content.decode()
    entry = DiaryEntry.objects.get()
    history = entry.history.get()
    assert (history.history_user, history.history_change_reason, history.source) == (
        coordinator,
        "Paper back-up, visit 2",
        "staff",
    )
    trail = client.get(f"/admin/diary/enrollment/{demo3.pk}/audit/").content.decode()
    assert "Paper back-up, visit 2" in trail

    # A correction of the item later keeps the old answer and its own reason.
    url = f"/admin/diary/diaryentry/{entry.pk}/change/"
    data = paper_page(demo3, entry.date, vivid_dreams="no", change_reason="Misread the page")
    data.pop("enrollment"), data.pop("date")
    assert client.post(url, data).status_code == 302
    entry.refresh_from_db()
    assert entry.vivid_dreams is False
    assert [h.history_change_reason for h in entry.history.order_by("history_date")] == [
        "Paper back-up, visit 2",
        "Misread the page",
    ]
    # The change page shows the stored answer as its choice.
    page = client.get(url).content.decode()
    assert re.search(r'name="vivid_dreams" value="no"[^>]*checked', page)
