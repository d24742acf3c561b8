"""Settings for the test suite: the local ones, with a fast password hasher.

Every test that logs a user in would otherwise spend a third of a second hashing; the
processes the tests start (workers, ``make run``, the web server) inherit these settings.
"""
from .local import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
