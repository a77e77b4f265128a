"""Sign-in, sign-out and password reset by e-mail."""

import re

import pytest

from tests.factories import PASSWORD, EnrollmentFactory, PhysicianFactory

pytestmark = pytest.mark.django_db


def test_patient_signs_in_and_lands_on_her_diary(client):
    enrollment = EnrollmentFactory()
    response = client.post(
        "/accounts/login/",
        {"username": enrollment.patient.username, "password": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/diary/"
    assert "Your average pain over the last 24 hours" in response.content.decode()


def test_physician_signs_in_and_lands_on_her_patient_list(client):
    physician = PhysicianFactory()
    response = client.post(
        "/accounts/login/", {"username": physician.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/physician/"


def test_wrong_password_says_so_and_signs_nobody_in(client):
    enrollment = EnrollmentFactory()
    response = client.post(
        "/accounts/login/", {"username": enrollment.patient.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/diary/").status_code == 302


def test_sign_out_ends_the_session(client):
    enrollment = EnrollmentFactory()
    client.force_login(enrollment.patient)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/diary/")["Location"].startswith("/accounts/login/")


def test_password_reset_by_email_sets_a_new_password_once(client, mailoutbox):
    enrollment = EnrollmentFactory()
    patient = enrollment.patient
    response = client.post("/accounts/password_reset/", {"email": patient.email}, follow=True)
    assert "Check your e-mail" in response.content.decode()
    (mail,) = mailoutbox
    assert mail.to == [patient.email]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.body).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(
        form_url,
        {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    assert response["Location"] == "/accounts/reset/done/"
    patient.refresh_from_db()
    assert patient.check_password("a-new-long-passphrase")
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).content.decode()
