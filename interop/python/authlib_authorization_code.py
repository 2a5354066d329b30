"""authlib against Ward's sign-in: discovery (authlib's OpenIDProviderMetadata lints the document),
authorization code + PKCE S256 through the real sign-in and consent pages, for a public client and
for a confidential one; the ID token and access token verified with joserfc against the JWKS;
userinfo; refresh-token rotation with replay revoking the whole family; introspection (RFC 7662)
before and after revocation (RFC 7009).

Inputs: WARD_URL, WARD_TENANT, WARD_CA_FILE, WARD_CLIENT_ID (public client), WARD_CONF_CLIENT_ID and
WARD_CONF_CLIENT_SECRET (confidential client), WARD_REDIRECT_URI (registered for both),
WARD_USERNAME, WARD_PASSWORD, WARD_SCOPE ("openid profile email offline_access User.Read").
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session, OAuthError  # noqa: E402
from authlib.oidc.discovery import OpenIDProviderMetadata  # noqa: E402
from joserfc.errors import JoseError  # noqa: E402

from _signin import sign_in  # noqa: E402
from _ward import BASE, GRAPH, ISSUER, TENANT, browser, check, env, expect_error, fail, fetch_keys, ok, trust_test_ca, verify_jwt  # noqa: E402

PUBLIC_ID = env("WARD_CLIENT_ID")
CONF_ID = env("WARD_CONF_CLIENT_ID")
CONF_SECRET = env("WARD_CONF_CLIENT_SECRET")
REDIRECT_URI = env("WARD_REDIRECT_URI")
USERNAME = env("WARD_USERNAME")
PASSWORD = env("WARD_PASSWORD")
SCOPE = env("WARD_SCOPE")

# --- discovery
http = browser()
url = f"{ISSUER}/.well-known/openid-configuration"
response = http.get(url)
check(response.status_code == 200, f"discovery: GET {url} answers 200", f"{response.status_code} {response.text[:300]}")
meta = OpenIDProviderMetadata(response.json())
try:
    meta.validate()
except ValueError as e:
    fail(f"discovery: authlib's OpenIDProviderMetadata.validate() refused the document: {e}")
ok("discovery: authlib's OpenIDProviderMetadata.validate() accepts the document")
check(meta["issuer"] == ISSUER, f"discovery: issuer {ISSUER}", meta["issuer"])
for name, path in [
    ("authorization_endpoint", f"/{TENANT}/oauth2/v2.0/authorize"),
    ("token_endpoint", f"/{TENANT}/oauth2/v2.0/token"),
    ("jwks_uri", f"/{TENANT}/discovery/v2.0/keys"),
    ("userinfo_endpoint", "/oidc/userinfo"),
    ("introspection_endpoint", f"/{TENANT}/oauth2/v2.0/introspect"),
    ("revocation_endpoint", f"/{TENANT}/oauth2/v2.0/revoke"),
]:
    check(meta.get(name) == BASE + path, f"discovery: {name} {BASE + path}", meta.get(name))
check("S256" in meta.get("code_challenge_methods_supported", []), "discovery: PKCE S256 supported")
other = http.get(f"{BASE}/{TENANT}/.well-known/openid-configuration")
check(other.status_code == 200 and other.json() == meta, "discovery: /{tenant}/.well-known/openid-configuration is the same document")
keys = fetch_keys(http, meta["jwks_uri"])
ID_TOKEN_ALGS = meta["id_token_signing_alg_values_supported"]


def authorize(client, label):
    """One sign-in with PKCE S256, state and nonce; returns (token response, nonce)."""
    verifier, nonce = generate_token(64), generate_token(24)
    authorization_url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    check("code_challenge_method=S256" in authorization_url, f"{label}: authorization request carries an S256 code_challenge")
    location, query, pages = sign_in(browser(), authorization_url, REDIRECT_URI, USERNAME, PASSWORD)
    if "error" in query:
        fail(f"{label}: the authorization response is an error: {query}")
    check(query.get("state") == state and "code" in query, f"{label}: code and matching state after pages {pages}", query)
    try:
        token = client.fetch_token(meta["token_endpoint"], authorization_response=location, state=state, code_verifier=verifier)
    except OAuthError as e:
        fail(f"{label}: token exchange refused: {e.error}: {e.description}")
    check(token["token_type"].lower() == "bearer", f"{label}: Bearer tokens")
    for name in ("access_token", "id_token", "refresh_token"):
        check(bool(token.get(name)), f"{label}: {name} issued", sorted(token))
    return token, nonce


def verify_tokens(token, nonce, client_id, label):
    """Returns the ID token's claims."""
    try:
        id_token = verify_jwt(token["id_token"], keys, audience=client_id, algorithms=ID_TOKEN_ALGS, nonce=nonce)
    except (JoseError, ValueError) as e:
        fail(f"{label}: ID token refused: {type(e).__name__}: {e}")
    ok(f"{label}: ID token {id_token.header['alg']} verifies: iss, aud {client_id}, nonce, exp, iat")
    check(bool(id_token.claims.get("sub")), f"{label}: ID token has a sub")
    try:
        access = verify_jwt(token["access_token"], keys, audience=GRAPH, typ="at+jwt")
    except (JoseError, ValueError) as e:
        fail(f"{label}: access token refused: {type(e).__name__}: {e}")
    scopes = access.claims.get("scp", "").split()
    check("User.Read" in scopes, f"{label}: access token for {GRAPH}, scp {scopes}", access.claims)
    return id_token.claims


def refused(client, refresh_token, label):
    e = expect_error(lambda: client.refresh_token(meta["token_endpoint"], refresh_token=refresh_token), OAuthError, label)
    check(e.error == "invalid_grant", f"{label}: invalid_grant", e.error)


# --- public client: PKCE, no secret
public = trust_test_ca(
    OAuth2Session(
        PUBLIC_ID, scope=SCOPE, redirect_uri=REDIRECT_URI, code_challenge_method="S256", token_endpoint_auth_method="none"
    )
)
token, nonce = authorize(public, "public client")
id_claims = verify_tokens(token, nonce, PUBLIC_ID, "public client")

userinfo = http.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"})
check(userinfo.status_code == 200, "userinfo answers 200 to the bearer token", f"{userinfo.status_code} {userinfo.text[:300]}")
check(userinfo.json().get("sub") == id_claims["sub"], "userinfo: sub equals the ID token's sub", userinfo.json())

old = token["refresh_token"]
try:
    rotated = public.refresh_token(meta["token_endpoint"], refresh_token=old)
except OAuthError as e:
    fail(f"refresh refused: {e.error}: {e.description}")
new = rotated.get("refresh_token")
check(bool(new) and new != old, "refresh: a new refresh token replaces the old one")
verify_jwt(rotated["access_token"], keys, audience=GRAPH, typ="at+jwt")
ok("refresh: the new access token verifies")
refused(public, old, "replaying the old refresh token")
refused(public, new, "the new refresh token after the replay (family revoked)")

# --- confidential client: PKCE and a secret; introspection and revocation
confidential = trust_test_ca(
    OAuth2Session(
        CONF_ID,
        CONF_SECRET,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
)
token, nonce = authorize(confidential, "confidential client")
verify_tokens(token, nonce, CONF_ID, "confidential client")


def introspect(value, hint):
    r = confidential.introspect_token(meta["introspection_endpoint"], token=value, token_type_hint=hint)
    check(r.status_code == 200, f"introspection answers 200 ({hint})", f"{r.status_code} {r.text[:300]}")
    return r.json()


info = introspect(token["access_token"], "access_token")
check(info.get("active") is True, "introspection: a fresh access token is active", info)
check(info.get("client_id") in (None, CONF_ID), "introspection: client_id is the confidential client", info)
r = confidential.revoke_token(meta["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
check(r.status_code == 200, "revocation of the refresh token answers 200", f"{r.status_code} {r.text[:300]}")
check(introspect(token["access_token"], "access_token").get("active") is False, "introspection: its access token is inactive after revocation")
check(introspect(token["refresh_token"], "refresh_token").get("active") is False, "introspection: the refresh token is inactive")
refused(confidential, token["refresh_token"], "refreshing with the revoked refresh token")

print("authlib authorization code: all checks passed")
