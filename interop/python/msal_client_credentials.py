"""Microsoft's msal (ConfidentialClientApplication) gets app-only tokens from Ward over HTTPS, the
way a daemon written for Entra ID would: tenant discovery first, then acquire_token_for_client with
a `.default` scope. Both ways msal finds a non-Microsoft host are tried: an Entra-style `authority`
(discovery at {authority}/v2.0/.well-known/openid-configuration, instance discovery off) and an
`oidc_authority` (discovery at {authority}/.well-known/openid-configuration, issuer checked).
PyJWT, msal's own JWT library, verifies the token against the JWKS.

Inputs: WARD_URL, WARD_TENANT, WARD_CA_FILE, WARD_CLIENT_ID, WARD_CLIENT_SECRET.
"""

import jwt as pyjwt
import msal

from _ward import BASE, GRAPH, ISSUER, TENANT, browser, check, env, fail, ok

CLIENT_ID = env("WARD_CLIENT_ID")
SECRET = env("WARD_CLIENT_SECRET")
SCOPES = [f"{GRAPH}/.default"]
AUTHORITY = f"{BASE}/{TENANT}"

http = browser()  # trusts the test CA only
seen = []  # every response msal got, for the report
http.hooks["response"].append(lambda response, **_: seen.append(response))


def app(label, secret=SECRET, **where):
    try:
        return msal.ConfidentialClientApplication(CLIENT_ID, client_credential=secret, http_client=http, **where)
    except ValueError as e:  # msal raises ValueError when tenant discovery fails
        last = seen[-1] if seen else None
        answer = f"GET {last.url} answered {last.status_code} {last.text[:200]!r}" if last is not None else "no HTTP answer"
        fail(f"{label}: msal's tenant discovery failed ({answer}): {e}")


def acquire(label, application):
    result = application.acquire_token_for_client(scopes=SCOPES)
    if "access_token" not in result:
        fail(f"{label}: no token: {result.get('error')}: {result.get('error_description')}")
    return result


jwks = pyjwt.PyJWKSet.from_dict(http.get(f"{BASE}/{TENANT}/discovery/v2.0/keys").json())


def verify(label, token):
    header = pyjwt.get_unverified_header(token)
    key = next((k for k in jwks.keys if k.key_id == header.get("kid")), None)
    check(key is not None, f"{label}: kid {header.get('kid')} is in the JWKS")
    check(header.get("typ") == "at+jwt", f"{label}: typ at+jwt", header)
    try:
        claims = pyjwt.decode(
            token, key, algorithms=["RS256"], audience=GRAPH, issuer=ISSUER, options={"require": ["exp", "iat", "iss", "aud"]}
        )
    except pyjwt.PyJWTError as e:
        fail(f"{label}: PyJWT refused the token: {type(e).__name__}: {e}")
    ok(f"{label}: PyJWT verified RS256 signature, iss {ISSUER}, aud {GRAPH}, exp")
    check(claims.get("tid") == TENANT and claims.get("appid") == CLIENT_ID, f"{label}: tid and appid", claims)
    check(bool(claims.get("roles")), f"{label}: roles, {len(claims.get('roles') or [])} application permissions", claims)
    return claims


for label, where in [
    ("authority", {"authority": AUTHORITY, "instance_discovery": False}),
    ("oidc_authority", {"oidc_authority": AUTHORITY}),
]:
    application = app(label, **where)
    discovery = [r.url for r in seen if "openid-configuration" in r.url]
    ok(f"{label}: tenant discovery at {discovery[-1]}; token endpoint {application.authority.token_endpoint}")
    first = acquire(label, application)
    check(first["token_type"] == "Bearer" and first["expires_in"] > 0, f"{label}: Bearer, expires_in {first['expires_in']}")
    check(first.get("token_source") == "identity_provider", f"{label}: first token from the identity provider", first.get("token_source"))
    token_request = seen[-1].request
    check(token_request.url == f"{BASE}/{TENANT}/oauth2/v2.0/token", f"{label}: posted to {token_request.url}")
    check(any(h.lower().startswith("x-client-") for h in token_request.headers), f"{label}: msal's x-client-* headers accepted")
    verify(label, first["access_token"])
    again = acquire(label, application)
    check(again.get("token_source") == "cache" and again["access_token"] == first["access_token"], f"{label}: second call served from msal's cache")

wrong = app("wrong secret", secret="not-the-secret", authority=AUTHORITY, instance_discovery=False)
result = wrong.acquire_token_for_client(scopes=SCOPES)
check(result.get("error") == "invalid_client", "a wrong secret: error invalid_client", result)
check(str(result.get("error_description", "")).startswith("AADSTS7000215"), "a wrong secret: AADSTS7000215", result.get("error_description"))

print("msal client credentials: all checks passed")
