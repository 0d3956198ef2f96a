#!/usr/bin/python3
"""Generate django_users.json with the real Django (3.2, the system Python).

    /usr/bin/python3 gen_django_users.py > django_users.json

It creates users in an in-memory SQLite database through Django's own
models and hashers (the default PBKDF2 hasher, 260000 iterations), then
dumps them with `manage.py dumpdata auth.user`. The known passwords are in
README.md. Salts are random, so each run gives different hashes.
"""
import datetime
import sys

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    USE_TZ=True,
    SECRET_KEY="fixture-generation-only",
)
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

utc = datetime.timezone.utc
editors = Group.objects.create(name="editors")

alice = User.objects.create_user(
    "alice", "alice@example.com", "alice-Wonderland-1",
    first_name="Alice", last_name="Liddell",
    date_joined=datetime.datetime(2019, 3, 14, 15, 9, 26, 535897, tzinfo=utc),
)
alice.is_staff = True
alice.last_login = datetime.datetime(2021, 6, 1, 8, 0, 0, tzinfo=utc)
alice.save()
alice.groups.add(editors)

User.objects.create_user(
    "bob.builder", "Bob@Example.org", "can-we-fix-it-2",
    first_name="Bob", last_name="",
    is_active=False,
    date_joined=datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=utc),
)

User.objects.create_user(
    "jörg_müller", "", "Jörg-Passwört-3 ✓",
    first_name="Jörg", last_name="Müller",
    date_joined=datetime.datetime(2020, 7, 8, 9, 10, 11, 120000, tzinfo=utc),
)

# A superuser with an unusable password (e.g. one who logged in through SSO).
User.objects.create_superuser(
    "carol+admin", "carol@example.com", None,
    date_joined=datetime.datetime(2021, 12, 31, 23, 59, 59, 999999, tzinfo=utc),
)

call_command("dumpdata", "auth.user", indent=2, stdout=sys.stdout)
sys.stdout.write("\n")
