"""authlib's OAuth2Session gets app-only tokens from Ward (client credentials) with both
client_secret_basic and client_secret_post; joserfc (authlib's JOSE library) verifies them against
the published JWKS, and refuses a tampered token, one signed by another key and an unsigned one.

Inputs: WARD_URL, WARD_TENANT, WARD_CA_FILE, WARD_CLIENT_ID, WARD_CLIENT_SECRET.
"""

import json

from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import RSAKey

from _ward import (
    BASE,
    GRAPH,
    ISSUER,
    TENANT,
    b64url_decode,
    b64url_encode,
    check,
    env,
    expect_error,
    fail,
    fetch_keys,
    ok,
    trust_test_ca,
    unverified,
    verify_jwt,
)

CLIENT_ID = env("WARD_CLIENT_ID")
SECRET = env("WARD_CLIENT_SECRET")
TOKEN_URL = f"{BASE}/{TENANT}/oauth2/v2.0/token"
SCOPE = f"{GRAPH}/.default"


def session(method, secret=SECRET):
    """An OAuth2Session that also records the requests it sends."""
    s = trust_test_ca(OAuth2Session(CLIENT_ID, secret, token_endpoint_auth_method=method, scope=SCOPE))
    s.sent = []
    s.hooks["response"].append(lambda response, **_: s.sent.append(response.request))
    return s


def client_credentials(method):
    s = session(method)
    token = s.fetch_token(TOKEN_URL, grant_type="client_credentials")
    request = s.sent[-1]
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    basic = request.headers.get("Authorization", "").startswith("Basic ")
    posted = "client_secret=" in body
    check(basic == (method == "client_secret_basic") and posted == (method == "client_secret_post"), f"{method}: the secret went where {method} puts it")
    check(token["token_type"].lower() == "bearer", f"{method}: token_type Bearer", token["token_type"])
    check(0 < token["expires_in"] <= 3600 * 24, f"{method}: expires_in {token['expires_in']}")
    return s, token["access_token"]


s, access_token = client_credentials("client_secret_basic")
_, second_token = client_credentials("client_secret_post")

keys = fetch_keys(s)
header, claims = unverified(access_token)
try:
    verified = verify_jwt(access_token, keys, audience=GRAPH, typ="at+jwt", tid=TENANT, appid=CLIENT_ID)
except (JoseError, ValueError) as e:
    fail(f"the access token does not verify against the JWKS: {type(e).__name__}: {e}; header {header}, claims {claims}")
ok(f"signature: {header['alg']} by published key {header['kid']}; typ at+jwt; iss {ISSUER}; aud {GRAPH}; exp in the future")
check(verified.claims["tid"] == TENANT and verified.claims["appid"] == CLIENT_ID, "tid and appid name the tenant and the client")
roles = verified.claims.get("roles")
check(isinstance(roles, list) and len(roles) > 0, f"roles: {len(roles or [])} application permissions", claims)
check("scp" not in verified.claims, "no scp in an app-only token")
verify_jwt(second_token, keys, audience=GRAPH, typ="at+jwt")
check(unverified(second_token)[1]["jti"] != claims["jti"], "the client_secret_post token verifies too, with its own jti")

# The checks are live: each of these must be refused.
expect_error(
    lambda: verify_jwt(access_token, keys, audience=GRAPH, now=claims["exp"] + 3600), ExpiredTokenError, "an hour past exp it is expired"
)
expect_error(lambda: verify_jwt(access_token, keys, audience="api://someone-else"), InvalidClaimError, "another audience is refused")

head, payload, signature = access_token.split(".")
flipped = bytearray(b64url_decode(payload))
at = flipped.index(CLIENT_ID.encode())  # inside a JSON string: the result is still valid JSON
flipped[at] ^= 0x01
tampered = ".".join([head, b64url_encode(bytes(flipped)), signature])
expect_error(lambda: verify_jwt(tampered, keys, audience=GRAPH), BadSignatureError, "one flipped payload byte: signature refused")

impostor = RSAKey.generate_key(2048)
forged = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": header["kid"]}, claims, impostor)
expect_error(lambda: verify_jwt(forged, keys, audience=GRAPH), BadSignatureError, "same claims and kid, another RSA key: refused")

unsigned = ".".join([b64url_encode(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()), payload, ""])
expect_error(lambda: verify_jwt(unsigned, keys, audience=GRAPH), JoseError, "alg none: refused")

for method in ("client_secret_basic", "client_secret_post"):
    wrong = session(method, secret="not-the-secret")
    e = expect_error(lambda: wrong.fetch_token(TOKEN_URL, grant_type="client_credentials"), OAuthError, f"{method} with a wrong secret")
    check(e.error == "invalid_client", f"{method} with a wrong secret: error invalid_client", e.error)

print("authlib client credentials: all checks passed")
