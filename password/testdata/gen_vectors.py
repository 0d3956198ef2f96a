#!/usr/bin/python3
"""Generate vectors.json: password hashes made by the real tools.

Run with the system Python, which has Django 3.2, python3-bcrypt and
python3-argon2 (argon2-cffi):

    /usr/bin/python3 gen_vectors.py > vectors.json

Each vector is {"name", "tool", "password", "hash"}; the Go tests check that
Verify accepts the password and rejects a wrong one. Costs are lowered where
the tool allows it, to keep `go test -race` quick; one vector per format
keeps the tool's default cost. The passwords are test data, not secrets.
"""
import json

import argon2
import bcrypt
import django
from django.conf import settings

settings.configure(
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
    ]
)
django.setup()

from django.contrib.auth import hashers  # noqa: E402

vectors = []


def add(name, tool, password, hash_):
    vectors.append({"name": name, "tool": tool, "password": password, "hash": hash_})


DJ = "django " + django.get_version()
BC = "pyca bcrypt " + bcrypt.__version__
A2 = "argon2-cffi " + argon2.__version__

# Django pbkdf2_sha256 at its default 260000 iterations, and cheaper ones.
add("django pbkdf2_sha256 default", DJ, "correct horse battery staple",
    hashers.make_password("correct horse battery staple", hasher="pbkdf2_sha256"))
pb = hashers.PBKDF2PasswordHasher()
add("django pbkdf2_sha256 1000 iterations", DJ, "hunter2",
    pb.encode("hunter2", pb.salt(), iterations=1000))
add("django pbkdf2_sha256 non-ASCII", DJ, "pässwörd ✓ 密码",
    pb.encode("pässwörd ✓ 密码", pb.salt(), iterations=1000))
add("django pbkdf2_sha256 empty password", DJ, "",
    pb.encode("", pb.salt(), iterations=1000))
pb1 = hashers.PBKDF2SHA1PasswordHasher()
add("django pbkdf2_sha1 1000 iterations", DJ, "sha1 is old",
    pb1.encode("sha1 is old", pb1.salt(), iterations=1000))

# Django bcrypt_sha256 at its default cost 12, and cost 4.
add("django bcrypt_sha256 default", DJ, "correct horse battery staple",
    hashers.make_password("correct horse battery staple", hasher="bcrypt_sha256"))
bs = hashers.BCryptSHA256PasswordHasher()
long_pw = "a very long passphrase that goes past the seventy-two byte limit of bcrypt"
assert len(long_pw.encode()) > 72
add("django bcrypt_sha256 cost 4 long", DJ, long_pw,
    bs.encode(long_pw, bcrypt.gensalt(4)))
bp = hashers.BCryptPasswordHasher()
# Plain bcrypt reads only the first 72 bytes; the test checks the same.
add("django bcrypt cost 4 long", DJ, long_pw, bp.encode(long_pw, bcrypt.gensalt(4)))
add("django bcrypt cost 4", DJ, "plain bcrypt ünïcode",
    bp.encode("plain bcrypt ünïcode", bcrypt.gensalt(4)))

# Bare bcrypt in each accepted version.
for prefix in (b"2a", b"2b"):
    add("bcrypt $%s$ cost 4" % prefix.decode(), BC, "bare bcrypt",
        bcrypt.hashpw("bare bcrypt".encode(), bcrypt.gensalt(4, prefix=prefix)).decode())
salt_2y = b"$2y$" + bcrypt.gensalt(5)[4:]
add("bcrypt $2y$ cost 5", BC, "php style",
    bcrypt.hashpw(b"php style", salt_2y).decode())

# Django's Argon2PasswordHasher (argon2id since Django 3.2), at lowered
# cost, and at its default cost (m=102400 KiB, t=2, p=8).
class CheapArgon2(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 256
    parallelism = 2


ca = CheapArgon2()
add("django argon2 cheap", DJ, "django argon2", ca.encode("django argon2", ca.salt()))
add("django argon2 default", DJ, "django argon2 default",
    hashers.make_password("django argon2 default", hasher="argon2"))

# Bare PHC strings from argon2-cffi: argon2id at authd's default parameters
# (so no rehash is needed), at others, and argon2i.
lo = argon2.low_level
add("argon2id authd params", A2, "same params as authd",
    lo.hash_secret(b"same params as authd", bytes(range(16)), time_cost=2,
                   memory_cost=19456, parallelism=1, hash_len=32,
                   type=lo.Type.ID).decode())
add("argon2id other params", A2, "other params",
    argon2.PasswordHasher(time_cost=3, memory_cost=512, parallelism=4,
                          hash_len=16, salt_len=8).hash("other params"))
add("argon2i", A2, "argon2i",
    argon2.PasswordHasher(time_cost=2, memory_cost=256, parallelism=1,
                          type=lo.Type.I).hash("argon2i"))

print(json.dumps(vectors, indent=2, ensure_ascii=False))
