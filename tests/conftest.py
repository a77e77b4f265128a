import pytest


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The default hasher is deliberately slow; tests sign in a lot.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
