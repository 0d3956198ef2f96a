#!/usr/bin/python3
"""Check the example against a running authd: its access tokens are accepted
and map to the right Django user; expired, tampered and ID tokens are
refused.

    AUTHD_ISSUER=http://127.0.0.1:8080 \\
    AUTHD_ACCESS_TOKEN="$access_token [$another ...]" \\
    AUTHD_EXPIRED_TOKEN=$expired_access_token \\
    AUTHD_ID_TOKEN=$id_token \\
    /usr/bin/python3 examples/django/check.py [ISSUER]

Environment (README.md has the whole contract):

    AUTHD_ISSUER           authd's issuer URL; the first argument, if any,
                           overrides it
    AUTHD_ACCESS_TOKEN     one or more valid access tokens of one user,
                           separated by white space (e.g. signed by
                           successive keys); each must be accepted
    AUTHD_EXPIRED_TOKEN    an access token past its exp
    AUTHD_ID_TOKEN         an ID token of the same sign-in
    AUTHD_AUDIENCE         accepted audiences, comma-separated; default api
    AUTHD_LEEWAY           clock skew allowed, in seconds; default 0 here
    AUTHD_EXPECT_SUB       the sub the user must have (optional)
    AUTHD_EXPECT_PK        the pk /api/whoami/ must answer (optional)
    AUTHD_EXPECT_USERNAME  the username /api/whoami/ must answer (optional)
    AUTHD_DJANGO_FIXTURE   a `dumpdata auth.user` file loaded into the
                           example's database first (without the users'
                           groups and permissions), as the Django project's
                           existing users (optional)

The requests go through the whole Django and DRF stack (django.test.Client,
no server of its own); the keys come from authd's JWKS over HTTP. It prints
one line per check and "check: N passed, M failed", and exits 0 when all
passed, 1 when one failed, 2 when the environment is incomplete or the
example cannot start.
"""
import base64
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def fail_usage(msg):
    print("check: " + msg, file=sys.stderr)
    sys.exit(2)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def claims_of(token):
    """The payload of a JWS, unverified: only to compare with what the
    example answers."""
    return json.loads(b64url_decode(token.split(".")[1]))


def tampered_payload(token):
    """The token with another sub and its original signature."""
    h, p, s = token.split(".")
    claims = json.loads(b64url_decode(p))
    claims["sub"] = "u_" + "a" * 26
    return ".".join((h, b64url_encode(json.dumps(claims, separators=(",", ":")).encode()), s))


def tampered_signature(token):
    """The token with one bit of its signature flipped."""
    h, p, s = token.split(".")
    sig = bytearray(b64url_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return ".".join((h, p, b64url_encode(bytes(sig))))


def with_header(token, **changes):
    """The token with its header changed (and so its signature wrong)."""
    h, p, s = token.split(".")
    header = json.loads(b64url_decode(h))
    header.update(changes)
    return ".".join((b64url_encode(json.dumps(header, separators=(",", ":")).encode()), p, s))


def hs256_with_public_key(token, jwks_doc):
    """The classic algorithm confusion: HS256 keyed with the RSA or Ed25519
    public key the JWKS publishes."""
    import hashlib
    import hmac

    h, p, _ = token.split(".")
    header = json.loads(b64url_decode(h))
    key = next((k for k in jwks_doc.get("keys", []) if k.get("kid") == header.get("kid")), {})
    secret = json.dumps(key, separators=(",", ":")).encode()
    header["alg"] = "HS256"
    h2 = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    sig = hmac.new(secret, (h2 + "." + p).encode(), hashlib.sha256).digest()
    return ".".join((h2, p, b64url_encode(sig)))


def users_only(path, folder):
    """A copy of a `dumpdata auth.user` file without the users' groups and
    permissions, which the dump does not hold and the fresh database lacks."""
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    for r in records:
        r.get("fields", {}).update(groups=[], user_permissions=[])
    out = os.path.join(folder, "users.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(records, f)
    return out


def main():
    issuer = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AUTHD_ISSUER", "")
    access = os.environ.get("AUTHD_ACCESS_TOKEN", "").split()
    expired = os.environ.get("AUTHD_EXPIRED_TOKEN", "").strip()
    id_token = os.environ.get("AUTHD_ID_TOKEN", "").strip()
    missing = [n for n, v in (("AUTHD_ISSUER", issuer), ("AUTHD_ACCESS_TOKEN", access),
                              ("AUTHD_EXPIRED_TOKEN", expired), ("AUTHD_ID_TOKEN", id_token)) if not v]
    if missing:
        fail_usage("missing " + ", ".join(missing) + " (see the top of check.py or README.md)")
    expect_sub = os.environ.get("AUTHD_EXPECT_SUB", "")
    expect_pk = os.environ.get("AUTHD_EXPECT_PK", "")
    expect_username = os.environ.get("AUTHD_EXPECT_USERNAME", "")
    fixture = os.environ.get("AUTHD_DJANGO_FIXTURE", "")

    tmp = tempfile.TemporaryDirectory(prefix="authd-django-check-")
    os.environ["AUTHD_ISSUER"] = issuer
    os.environ.setdefault("AUTHD_LEEWAY", "0")
    os.environ["EXAMPLE_DB"] = os.path.join(tmp.name, "db.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "exampleproject.settings"
    sys.path.insert(0, HERE)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        import authd_auth

        call_command("migrate", verbosity=0)
        if fixture:
            call_command("loaddata", users_only(fixture, tmp.name), verbosity=0)
    except Exception as e:  # noqa: BLE001 - any failure to start is a usage failure
        fail_usage("the example does not start: %s: %s" % (type(e).__name__, e))

    client = Client()
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, ": " + detail if detail and not ok else ""))

    def whoami(token, prefix="Bearer"):
        headers = {"HTTP_AUTHORIZATION": "%s %s" % (prefix, token)} if token is not None else {}
        resp = client.get("/api/whoami/", **headers)
        try:
            body = resp.json()
        except ValueError:
            body = resp.content[:200]
        return resp, body

    def refused(name, token):
        resp, body = whoami(token)
        check(name + " is refused with 401", resp.status_code == 401,
              "got %d %s" % (resp.status_code, body))

    resp, body = whoami(None)
    check("no token: 401 with a Bearer challenge",
          resp.status_code == 401 and resp.get("WWW-Authenticate", "").startswith("Bearer "),
          "got %d, WWW-Authenticate %r" % (resp.status_code, resp.get("WWW-Authenticate")))

    first_user = None
    for i, token in enumerate(access):
        name = "access token %d (kid %s, %s)" % (i + 1, *_kid_alg(token))
        resp, body = whoami(token)
        if resp.status_code != 200:
            check(name + " is accepted", False, "got %d %s" % (resp.status_code, body))
            continue
        problems = []
        sub = claims_of(token).get("sub")
        if body.get("sub") != sub:
            problems.append("sub %r, the token's is %r" % (body.get("sub"), sub))
        if expect_sub and body.get("sub") != expect_sub:
            problems.append("sub %r, want %r" % (body.get("sub"), expect_sub))
        if expect_pk and str(body.get("pk")) != expect_pk:
            problems.append("pk %r, want %s" % (body.get("pk"), expect_pk))
        if expect_username and body.get("username") != expect_username:
            problems.append("username %r, want %r" % (body.get("username"), expect_username))
        if problems and "user_id" not in claims_of(token) and (expect_pk or expect_username):
            problems.append("the token has no user_id claim, so its user cannot be found by pk")
        user = (body.get("pk"), body.get("username"))
        if first_user is None:
            first_user = user
        elif user != first_user:
            problems.append("user %r, but the first token's was %r" % (user, first_user))
        check(name + " is accepted as pk %s, username %r" % user, not problems, "; ".join(problems))

    resp, body = whoami(access[0], prefix="JWT")
    check("the \"JWT <token>\" header of djangorestframework-jwt clients works too",
          resp.status_code == 200 and (body.get("pk"), body.get("username")) == first_user,
          "got %d %s" % (resp.status_code, body))

    refused("an expired access token", expired)
    refused("an access token with another sub (payload tampered)", tampered_payload(access[0]))
    refused("an access token with one signature bit flipped", tampered_signature(access[0]))
    refused("an access token relabelled as an ID token (typ JWT)", with_header(access[0], typ="JWT"))
    refused("an access token relabelled alg none", with_header(access[0], alg="none"))
    jwks = authd_auth.get_jwks()
    try:
        import urllib.request

        with urllib.request.urlopen(jwks.url, timeout=5) as r:
            jwks_doc = json.loads(r.read())
    except (OSError, ValueError):
        jwks_doc = {}
    refused("an HS256 token keyed with the public key", hs256_with_public_key(access[0], jwks_doc))
    refused("an ID token", id_token)
    refused("a token that is not a JWT", "not-a-token")

    passed = sum(results)
    failed = len(results) - passed
    print("JWKS %s fetched %d time(s)" % (jwks.url, jwks.fetches))
    print("check: %d passed, %d failed" % (passed, failed))
    tmp.cleanup()
    sys.exit(0 if failed == 0 else 1)


def _kid_alg(token):
    try:
        header = json.loads(b64url_decode(token.split(".")[0]))
        return header.get("kid", "?"), header.get("alg", "?")
    except (ValueError, IndexError):
        return "?", "?"


if __name__ == "__main__":
    main()
