"""Plumbing shared by the interop scripts: inputs from the environment, HTTPS that trusts only the
test CA, JWT checks with joserfc against Ward's published keys, and one printed line per property.

Inputs: WARD_URL (https://localhost:PORT), WARD_TENANT (tenant id), WARD_CA_FILE (PEM of the CA
that signed the server's certificate; absent for plain HTTP), plus what each script names.
"""

import base64
import json
import os
import sys

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

GRAPH = "https://graph.microsoft.com"


def ok(message):
    print(f"ok    {message}", flush=True)


def fail(message):
    print(f"FAIL  {message}", flush=True)
    sys.exit(1)


def check(condition, message, detail=""):
    if not condition:
        fail(f"{message}: {detail}" if detail else message)
    ok(message)


def expect_error(action, errors, message):
    """Runs `action`, which must raise one of `errors`; returns the exception."""
    try:
        got = action()
    except errors as e:
        ok(f"{message} ({type(e).__name__}: {e})")
        return e
    fail(f"{message}: no error, got {got!r}")


def env(name):
    value = os.environ.get(name)
    if not value:
        fail(f"environment variable {name} is not set")
    return value


BASE = env("WARD_URL").rstrip("/")
TENANT = env("WARD_TENANT")
ISSUER = f"{BASE}/{TENANT}/v2.0"
CA_FILE = os.environ.get("WARD_CA_FILE")


def trust_test_ca(session):
    """Makes a requests.Session (or a subclass such as authlib's) trust the test CA and nothing
    from the machine: REQUESTS_CA_BUNDLE and proxy variables would otherwise win over `verify`."""
    session.trust_env = False
    session.verify = CA_FILE or True
    return session


def browser():
    return trust_test_ca(requests.Session())


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified(token):
    """(header, claims) of a compact JWS, without checking anything."""
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def fetch_keys(session, jwks_uri=None):
    doc = session.get(jwks_uri or f"{BASE}/{TENANT}/discovery/v2.0/keys").json()
    return KeySet.import_key_set(doc)


def verify_jwt(token, keys, *, audience, typ=None, algorithms=("RS256",), now=None, **claims):
    """Signature by a published key, then typ, iss, aud, exp (and any `claims` given as values).
    Raises a joserfc error on the first thing that does not hold."""
    decoded = jwt.decode(token, keys, algorithms=list(algorithms))
    if typ is not None and decoded.header.get("typ") != typ:
        raise ValueError(f"typ is {decoded.header.get('typ')!r}, not {typ!r}")
    options = {
        "iss": {"essential": True, "value": ISSUER},
        "aud": {"essential": True, "value": audience},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    options.update({name: {"essential": True, "value": value} for name, value in claims.items()})
    jwt.JWTClaimsRegistry(now=now, leeway=30, **options).validate(decoded.claims)
    return decoded
