import pytest
import time_machine


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The default hasher is deliberately slow; tests sign in a lot.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def staff_without_second_factor(settings):
    """Staff tests sign in with force_login; the second factor has tests of its own
    (test_two_factor.py), which turn it on."""
    settings.STAFF_2FA = False


@pytest.fixture
def frozen_clock(request):
    """One moment for the whole test, the test module's NOW (an aware datetime): every
    save time and every "today" is the same. A module freezes all its tests with
    `pytest.mark.usefixtures("frozen_clock")` in its pytestmark; a test that moves the
    clock on takes the fixture (a time-machine traveller) as an argument."""
    with time_machine.travel(request.module.NOW, tick=False) as traveller:
        yield traveller
