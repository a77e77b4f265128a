"""Which language each page is in (diary.people.languages.page_language): her account's
language wins over her browser's; the invitation link speaks the invitation's language;
staff pages are in English. Every test is an HTTP round trip through the whole
middleware stack."""

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.management import call_command

from diary.people.accounts import new_account
from diary.people.models import User
from diary.trial.invitations import send_invitation
from tests.factories import EnrollmentFactory, PatientFactory, PhysicianFactory

pytestmark = pytest.mark.django_db

ENGLISH_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "en"}
SPANISH_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "es-MX,es;q=0.9"}
NEW_PASSWORD = "a-long-new-pass-2026"


def lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.content.decode()).group(1)


def spanish_patient(**kwargs):
    patient = PatientFactory(language="es", **kwargs)
    EnrollmentFactory(patient=patient)
    return patient


# A signed-in patient -----------------------------------------------------------------


def test_a_spanish_account_gets_spanish_pages_in_an_english_browser(client):
    client.force_login(spanish_patient())
    for url in ("/diary/", "/diary/history/", "/diary/settings/"):
        response = client.get(url, **ENGLISH_BROWSER)
        assert response.status_code == 200, url
        assert lang(response) == "es", url
        assert response["Content-Language"] == "es", url
        assert "Cerrar sesión" in response.content.decode(), url
        assert "Sign out" not in response.content.decode(), url


def test_her_account_wins_over_an_english_cookie_left_on_the_device(client):
    client.force_login(spanish_patient())
    client.cookies["django_language"] = "en"
    assert lang(client.get("/diary/", **ENGLISH_BROWSER)) == "es"


def test_an_english_account_gets_english_pages_in_a_spanish_browser(client):
    patient = PatientFactory(language="en")
    EnrollmentFactory(patient=patient)
    client.force_login(patient)
    assert lang(client.get("/diary/", **SPANISH_BROWSER)) == "en"


def test_an_account_with_no_language_follows_the_browser(client):
    patient = PatientFactory(language="")
    EnrollmentFactory(patient=patient)
    client.force_login(patient)
    assert lang(client.get("/diary/", **SPANISH_BROWSER)) == "es"
    assert lang(client.get("/diary/", **ENGLISH_BROWSER)) == "en"


def test_her_switch_changes_her_pages_at_once(client):
    patient = spanish_patient()
    client.force_login(patient)
    client.post("/i18n/setlang/", {"language": "en", "next": "/diary/"}, **ENGLISH_BROWSER)
    patient.refresh_from_db()
    assert patient.language == "en"
    assert lang(client.get("/diary/", **SPANISH_BROWSER)) == "en"
    client.post("/i18n/setlang/", {"language": "es", "next": "/diary/"}, **ENGLISH_BROWSER)
    assert lang(client.get("/diary/", **ENGLISH_BROWSER)) == "es"


def test_signing_in_with_the_form_shows_her_diary_in_her_language(client):
    patient = spanish_patient()
    response = client.post(
        "/accounts/login/",
        {"username": patient.username, "password": "correct-horse-battery"},
        follow=True,
        **ENGLISH_BROWSER,
    )
    assert response.wsgi_request.user == patient
    assert lang(response) == "es"
    patient.refresh_from_db()
    assert patient.language == "es"  # the English browser did not overwrite it


def test_the_demo_patient2_reads_her_diary_in_spanish_in_an_english_browser(settings, client):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    response = client.post(
        "/accounts/login/",
        {"username": "patient2", "password": "ldn-demo-2026"},
        follow=True,
        **ENGLISH_BROWSER,
    )
    assert response.wsgi_request.user.username == "patient2"
    assert lang(response) == "es"


def test_a_sign_in_that_asks_for_no_language_records_none(client):
    """No cookie, no Accept-Language: the study's default is not saved as her choice, so
    her browser still decides until she or the coordinator picks one."""
    patient = PatientFactory(language="")
    client.post(
        "/accounts/login/", {"username": patient.username, "password": "correct-horse-battery"}
    )
    patient.refresh_from_db()
    assert patient.language == ""


def test_staff_pages_stay_in_english_for_a_spanish_account(client):
    physician = PhysicianFactory(language="es")
    client.force_login(physician)
    response = client.get("/physician/", **SPANISH_BROWSER)
    assert lang(response) == "en"
    assert "Sign out" in response.content.decode()


def test_pages_for_nobody_follow_the_browser(client):
    assert lang(client.get("/accounts/login/", **SPANISH_BROWSER)) == "es"
    assert lang(client.get("/accounts/login/", **ENGLISH_BROWSER)) == "en"


# The invitation link ------------------------------------------------------------------


def invited(language: str) -> User:
    patient = new_account(username="ana@example.org", email="ana@example.org", language=language)
    enrollment = EnrollmentFactory(patient=patient)
    send_invitation(patient, by=None, enrollment=enrollment)
    return patient


def invitation_path() -> str:
    link = re.search(r"http\S+/accounts/invite/\S+/", mail.outbox[-1].body).group(0)
    return urlsplit(link).path


def test_a_patient_invited_in_spanish_gets_a_spanish_welcome_and_diary(client):
    patient = invited("es")
    assert "Diario" in mail.outbox[-1].subject + mail.outbox[-1].body  # the e-mail is Spanish
    welcome = client.get(invitation_path(), follow=True, **ENGLISH_BROWSER)
    assert welcome.context["validlink"]
    assert lang(welcome) == "es"
    assert "Le damos la bienvenida al Diario del dolor" in welcome.content.decode()
    diary = client.post(
        welcome.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
        **ENGLISH_BROWSER,
    )
    assert diary.wsgi_request.user == patient  # signed in
    assert diary.redirect_chain[-1][0] == "/diary/"
    assert lang(diary) == "es"
    assert "Su contraseña se guardó y ya inició sesión." in diary.content.decode()
    # And on every later page, in the same English browser.
    assert lang(client.get("/diary/history/", **ENGLISH_BROWSER)) == "es"
    patient.refresh_from_db()
    assert patient.language == "es"


def test_her_mistyped_password_is_refused_in_her_language(client):
    invited("es")
    welcome = client.get(invitation_path(), follow=True, **ENGLISH_BROWSER)
    refused = client.post(
        welcome.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": "something-else-2026"},
        **ENGLISH_BROWSER,
    )
    assert refused.status_code == 200
    assert lang(refused) == "es"
    assert "Le damos la bienvenida al Diario del dolor" in refused.content.decode()


def test_a_patient_invited_in_english_gets_an_english_welcome_in_a_spanish_browser(client):
    invited("en")
    welcome = client.get(invitation_path(), follow=True, **SPANISH_BROWSER)
    assert lang(welcome) == "en"
    assert "Welcome to the Pain Diary" in welcome.content.decode()


def test_an_invitation_with_no_language_follows_her_browser_and_remembers_it(client):
    patient = invited("")
    welcome = client.get(invitation_path(), follow=True, **SPANISH_BROWSER)
    assert lang(welcome) == "es"
    diary = client.post(
        welcome.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
        **SPANISH_BROWSER,
    )
    assert lang(diary) == "es"
    patient.refresh_from_db()
    assert patient.language == "es"


def test_a_link_that_no_longer_works_follows_the_browser(client):
    invited("es")
    path = invitation_path()
    User.objects.filter(username="ana@example.org").update(password="changed")  # used
    page = client.get(path, follow=True, **ENGLISH_BROWSER)
    assert not page.context["validlink"]
    assert lang(page) == "en"
    assert "This invitation no longer works" in page.content.decode()
