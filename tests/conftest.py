import pytest


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The default hasher is deliberately slow; tests sign in a lot.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def staff_without_second_factor(settings):
    """Staff tests sign in with force_login; the second factor has tests of its own
    (test_two_factor.py), which turn it on."""
    settings.STAFF_2FA = False
