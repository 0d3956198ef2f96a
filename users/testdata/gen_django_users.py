#!/usr/bin/python3
"""Generate the Django dumps of this folder with the real Django (3.2, the
system Python):

    /usr/bin/python3 gen_django_users.py

It writes, next to itself:

django_users.json
    Users made through Django's own models and hashers (the default PBKDF2
    hasher, 260000 iterations), dumped with `manage.py dumpdata auth.user`.
    A user created and then deleted leaves a gap in the pks, as in any
    real database: `authd users import` must keep Django's numbers, not
    renumber.
django_users_conflicts.json
    Users that Django holds side by side but authd cannot: usernames that
    differ only in case or width (Django's username is unique only as
    typed) and two accounts with one email address (Django does not make
    email unique). Importing it must name the conflicting records and
    import nothing.

The known passwords are in README.md. Salts are random, so each run gives
different hashes.
"""
import datetime
import io
import os

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
from django.db import connection  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
utc = datetime.timezone.utc

call_command("migrate", verbosity=0)


def dump(name):
    """Write `manage.py dumpdata auth.user --indent 2` to HERE/name."""
    out = io.StringIO()
    call_command("dumpdata", "auth.user", indent=2, stdout=out)
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write(out.getvalue())
        f.write("\n")


def reset():
    """Start over with no users and pks from 1 again."""
    User.objects.all().delete()
    with connection.cursor() as c:
        c.execute("DELETE FROM sqlite_sequence WHERE name = 'auth_user'")


# django_users.json
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

# Deleted below: pk 3 is never used again.
User.objects.create_user("gone", "gone@example.com", "deleted-before-the-dump")

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

User.objects.get(username="gone").delete()
dump("django_users.json")

# django_users_conflicts.json
reset()
joined = datetime.datetime(2022, 2, 2, 2, 2, 2, tzinfo=utc)


def add(username, email, **extra):
    # User.objects.create, unlike create_user, does not apply Django's NFKC
    # normalization of usernames: data stored before Django normalized
    # them, or by other code, looks like this.
    u = User.objects.create(username=username, email=email, date_joined=joined, **extra)
    u.set_password("conflict-" + username)
    u.save()


add("Mike", "mike@example.com")           # pk 1
add("mike", "mike.other@example.com")     # pk 2: case only
add("eve", "eve@example.com")             # pk 3
add("zed", "zed@example.com")             # pk 4: no conflict
add("Eve2", "EVE@example.com")            # pk 5: eve's email in other case
add("\uff4d\uff49\uff4b\uff45", "")       # pk 6: fullwidth "mike"
add("stra\u00dfe", "strasse@example.com")  # pk 7
add("STRASSE", "")                        # pk 8: full case folding of straße
dump("django_users_conflicts.json")
