"""Tests of authd_auth with tokens signed here, against a JWKS served here:

    cd examples/django && /usr/bin/python3 manage.py test

check.py runs the same class against a real authd.
"""
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

import authd_auth
from whoami.models import AuthdAccount

User = get_user_model()


class Key:
    """A signing key and its public JWK."""

    def __init__(self, kid, alg):
        self.kid, self.alg = kid, alg
        if alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=kid, alg=alg, use="sig")
        self.jwk = jwk

    def sign(self, claims, typ="at+jwt", alg=None, kid=None):
        headers = {"kid": kid or self.kid}
        if typ is not None:
            headers["typ"] = typ
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers=headers)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unsigned(claims, header):
    """A JWS with an empty signature (what alg none looks like)."""
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode()) + "."


def hs256(claims, secret, header):
    """A JWS MACed with secret, which PyJWT refuses to do with a public key."""
    signing_input = unsigned(claims, header)[:-1]
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


class JWKSServer:
    """Serves {"keys": [...]} of the keys in .published, counting requests."""

    def __init__(self):
        self.published = []
        self.requests = 0
        self.down = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                if outer.down or self.path != "/.well-known/jwks.json":
                    self.send_error(503 if outer.down else 404)
                    return
                body = json.dumps({"keys": [k.jwk for k in outer.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=300")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class AuthdAuthTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = JWKSServer()
        cls.rsa = Key("rsa-1", "RS256")
        cls.ed = Key("ed-1", "EdDSA")
        cls.settings = override_settings(AUTHD={
            "ISSUER": cls.server.url, "AUDIENCE": ["api"], "LEEWAY": 5, "JWKS_MIN_REFETCH": 0.2,
        })
        cls.settings.enable()

    @classmethod
    def tearDownClass(cls):
        cls.settings.disable()
        cls.server.close()
        super().tearDownClass()

    def setUp(self):
        self.server.published = [self.rsa, self.ed]
        self.server.down = False
        authd_auth._jwks = None  # a fresh cache for each test
        self.server.requests = 0

    def claims(self, **over):
        now = int(time.time())
        c = {"iss": self.server.url, "sub": "u_" + "b" * 26, "aud": ["api"], "exp": now + 900,
             "iat": now, "jti": "j1", "client_id": "demo-spa", "scope": "openid profile", "sid": "s1"}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def get(self, token, prefix="Bearer"):
        return self.client.get("/api/whoami/", HTTP_AUTHORIZATION="%s %s" % (prefix, token))

    def assertRefused(self, token, status=401):
        resp = self.get(token)
        self.assertEqual(resp.status_code, status, resp.content)
        return resp

    def test_rs256_and_eddsa_accepted(self):
        for key in (self.rsa, self.ed):
            resp = self.get(key.sign(self.claims()))
            self.assertEqual(resp.status_code, 200, resp.content)
            self.assertEqual(resp.json()["sub"], "u_" + "b" * 26)
        # One local user for the one sub, named after it.
        self.assertEqual(User.objects.count(), 1)
        self.assertEqual(User.objects.get().username, "u_" + "b" * 26)
        self.assertFalse(User.objects.get().has_usable_password())
        self.assertEqual(self.server.requests, 1)

    def test_jwt_prefix(self):
        self.assertEqual(self.get(self.ed.sign(self.claims()), prefix="JWT").status_code, 200)

    def test_no_token(self):
        resp = self.client.get("/api/whoami/")
        self.assertEqual(resp.status_code, 401)
        self.assertEqual(resp["WWW-Authenticate"], 'Bearer realm="api"')

    def test_user_id_claim_maps_to_the_django_pk(self):
        User.objects.create_user("old-alice", pk=7)
        resp = self.get(self.rsa.sign(self.claims(user_id=7, username="alice")))
        self.assertEqual(resp.status_code, 200, resp.content)
        self.assertEqual((resp.json()["pk"], resp.json()["username"]), (7, "alice"))
        self.assertEqual(AuthdAccount.objects.get(sub="u_" + "b" * 26).user_id, 7)
        # A pk Django does not have yet is created with it.
        resp = self.get(self.rsa.sign(self.claims(sub="u_" + "c" * 26, user_id=40, preferred_username="carol")))
        self.assertEqual((resp.json()["pk"], resp.json()["username"]), (40, "carol"))

    def test_user_id_contradicting_the_link_is_refused(self):
        self.assertEqual(self.get(self.rsa.sign(self.claims(user_id=7))).status_code, 200)
        self.assertRefused(self.rsa.sign(self.claims(user_id=8)))

    def test_username_claim_renames(self):
        self.get(self.ed.sign(self.claims()))
        resp = self.get(self.ed.sign(self.claims(username="bob")))
        self.assertEqual(resp.json()["username"], "bob")
        self.assertEqual(User.objects.count(), 1)

    def test_inactive_user_refused(self):
        self.get(self.ed.sign(self.claims()))
        User.objects.update(is_active=False)
        self.assertRefused(self.ed.sign(self.claims()))

    def test_claims_refused(self):
        now = int(time.time())
        for name, claims in {
            "expired": self.claims(exp=now - 60),
            "issued in the future": self.claims(iat=now + 60),
            "other issuer": self.claims(iss="http://evil.example"),
            "other audience": self.claims(aud=["other"]),
            "no audience": self.claims(aud=None),
            "no exp": self.claims(exp=None),
            "no iat": self.claims(iat=None),
            "client_credentials (no sid)": self.claims(sub="demo-service", sid=None),
            "a sub that is not a user id": self.claims(sub="demo-service"),
            "user_id not an integer": self.claims(user_id="7"),
            "user_id a boolean": self.claims(user_id=True),
        }.items():
            with self.subTest(name):
                self.assertRefused(self.rsa.sign(claims))

    def test_leeway(self):
        now = int(time.time())
        self.assertEqual(self.get(self.rsa.sign(self.claims(exp=now - 2))).status_code, 200)
        self.assertEqual(self.get(self.rsa.sign(self.claims(iat=now + 2))).status_code, 200)

    def test_headers_refused(self):
        c = self.claims()
        pub_pem = self.rsa.private.public_key().public_bytes(
            encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo)
        for name, token in {
            "an ID token (typ JWT)": self.rsa.sign(c, typ="JWT"),
            "no typ": self.rsa.sign(c, typ=None),
            "RS384": self.rsa.sign(c, alg="RS384"),
            "PS256": self.rsa.sign(c, alg="PS256"),
            "HS256 keyed with the public key": hs256(c, pub_pem, {"alg": "HS256", "kid": "rsa-1", "typ": "at+jwt"}),
            "alg none": unsigned(c, {"alg": "none", "kid": "rsa-1", "typ": "at+jwt"}),
            "unknown kid": self.rsa.sign(c, kid="nope"),
            "no kid": jwt.encode(c, self.rsa.private, algorithm="RS256", headers={"typ": "at+jwt"}),
            "another key's kid": self.rsa.sign(c, kid="ed-1", alg="RS256"),
            "not signed by the published key": Key("rsa-1", "RS256").sign(c),
            "garbage": "a.b.c",
        }.items():
            with self.subTest(name):
                self.assertRefused(token)

    def test_application_at_jwt_type(self):
        self.assertEqual(self.get(self.ed.sign(self.claims(), typ="application/at+jwt")).status_code, 200)

    def test_rotated_key_refetched_once(self):
        self.assertEqual(self.get(self.rsa.sign(self.claims())).status_code, 200)
        self.assertEqual(self.server.requests, 1)
        new = Key("ed-2", "EdDSA")
        self.server.published = [self.rsa, self.ed, new]
        time.sleep(0.25)  # past JWKS_MIN_REFETCH
        self.assertEqual(self.get(new.sign(self.claims())).status_code, 200)
        self.assertEqual(self.server.requests, 2)
        # Cached from then on.
        self.assertEqual(self.get(new.sign(self.claims())).status_code, 200)
        self.assertEqual(self.server.requests, 2)

    def test_unknown_kids_do_not_flood_authd(self):
        self.get(self.rsa.sign(self.claims()))
        for i in range(20):
            self.assertRefused(self.rsa.sign(self.claims(), kid="bogus-%d" % i))
        # At most the first fetch and one refetch per JWKS_MIN_REFETCH.
        self.assertLessEqual(self.server.requests, 2)

    def test_retired_key_dropped_from_jwks(self):
        old = self.rsa.sign(self.claims())
        self.server.published = [self.ed]
        self.assertRefused(old)

    def test_jwks_unavailable(self):
        self.server.down = True
        self.assertRefused(self.ed.sign(self.claims()), status=503)
        # With keys cached, an outage keeps them.
        self.server.down = False
        self.assertEqual(self.get(self.ed.sign(self.claims())).status_code, 200)
        self.server.down = True
        authd_auth.get_jwks()._fresh_until = 0
        self.assertEqual(self.get(self.ed.sign(self.claims())).status_code, 200)
