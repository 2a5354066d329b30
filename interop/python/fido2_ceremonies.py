"""python-fido2 as a software authenticator against Ward's passkey ceremonies, at the API level:
fido2's classes build what an authenticator and a browser would (AttestedCredentialData with an
ES256 P-256 key from `cryptography`, AuthenticatorData, an AttestationObject of format "none",
CollectedClientData), sent as `PublicKeyCredential.toJSON()` does (base64url without padding) to
the endpoints Ward's `/static/passkey.js` calls. Ward's options are read with fido2's WebAuthn JSON
parsers.

What holds: a user-verifying authenticator registers a discoverable passkey and signs in without
a name, and that session works. Then crafted ceremonies, each correctly signed by the real key so
that only Ward's checks can stop them, each with fresh options, each refused with a 4xx JSON
error: another origin, another RP id hash, the wrong ceremony type, the challenge of another
ceremony, no user verification, a counter that does not grow, a replayed ceremony, a tampered
signature or authenticator data, the user handle of another or of no user, and a key whose AAGUID
the tenant's authentication methods policy (Graph) blocks. The good key keeps working throughout.

Inputs: WARD_URL, WARD_TENANT, WARD_CA_FILE, WARD_CLIENT_ID, WARD_CLIENT_SECRET (an application
holding Policy.ReadWrite.AuthenticationMethod, as `ward init` makes), WARD_USERNAME and
WARD_PASSWORD (a user who signs in with a password only and has no passkey yet).
"""

import json
import uuid
from urllib.parse import urlsplit

from fido2.cose import ES256
from fido2.webauthn import ResidentKeyRequirement, UserVerificationRequirement

from _fido2 import (
    FIDO2_POLICY,
    FLAG,
    MODEL_A,
    MODEL_B,
    ORIGIN,
    PORTAL,
    RP_ID,
    USERNAME,
    Authenticator,
    answer_json,
    app_token,
    begin_registration,
    begin_sign_in,
    finish_registration,
    finish_sign_in,
    password_session,
    portal_token,
    refused,
    register,
    set_key_restrictions,
    show,
    sign_in,
    sign_in_page,
    signs_in,
)
from _ward import BASE, b64url_encode, browser, check, env, fail, ok


# ----- Identity Protection: the newcomer starts confirmed compromised (the tenant lets a passkey
# registered in a session that proved MFA remediate; `ward tenant set` did it before this script)

RISKY = f"{BASE}/v1.0/identityProtection/riskyUsers"
graph = browser()
graph.headers["Authorization"] = f"Bearer {app_token()}"
USER_IDS = {name: graph.get(f"{BASE}/v1.0/users/{name}").json()["id"] for name in (USERNAME, env("WARD_TAP_USERNAME"))}
confirmed = graph.post(f"{RISKY}/confirmCompromised", json={"userIds": [USER_IDS[env("WARD_TAP_USERNAME")]]})
check(confirmed.status_code == 204, "Graph confirms the newcomer compromised", show(confirmed))


def risk_of(name, prefer=None):
    headers = {"Prefer": prefer} if prefer else {}
    return answer_json(graph.get(f"{RISKY}/{USER_IDS[name]}", headers=headers)) or {}


# ----- registration

portal = password_session()
ok(f"{USERNAME} signed in to the security-info portal with a password")

key = Authenticator(MODEL_A)
token = portal_token(portal)
options, state, raw = begin_registration(portal, token)
selection = options.authenticator_selection
check(
    options.rp.id == RP_ID
    and len(options.challenge) >= 16
    and options.user.name == USERNAME
    and len(options.user.id) == 16
    and any(p.alg == ES256.ALGORITHM for p in options.pub_key_cred_params)
    and selection is not None
    and selection.resident_key == ResidentKeyRequirement.REQUIRED
    and selection.user_verification == UserVerificationRequirement.REQUIRED,
    f"creation options parse with fido2: rp.id {options.rp.id}, discoverable, user verification required, ES256 offered",
    json.dumps(raw)[:800],
)
USER_ID = uuid.UUID(bytes=bytes(options.user.id))

*_, r = register(portal, key, origin="https://evil.example")
refused(r, "registration with clientDataJSON origin https://evil.example refused")
*_, r = register(portal, key, rp_id="evil.example")
refused(r, "registration with the rpIdHash of evil.example refused")
*_, r = register(portal, key, flags=FLAG.UP | FLAG.AT)
refused(r, "registration without user verification (flags UP|AT) refused")

r = finish_registration(portal, token, state, key.make_credential(options, counter=0), "Interop passkey")
body = answer_json(r) or {}
check(r.status_code == 200 and body.get("id") and body.get("location") == PORTAL, "registration with flags UP|UV|AT, counter 0, fmt none accepted", show(r))
r = portal.post(f"{BASE}{PORTAL}/passkey/options", data={"csrf_token": portal_token(portal)}, allow_redirects=False)
refused(r, "now that the account has a passkey, its password-only session cannot start adding another", status=403)

# ----- usernameless sign-in

signed_in, _, _, _ = signs_in(key, 1, "usernameless sign-in with the passkey (counter 1) accepted")
page = signed_in.get(f"{BASE}{PORTAL}", allow_redirects=False)
check(
    page.status_code == 200 and f"Signed in as <strong>{USERNAME}</strong>" in page.text and "<td>passkey</td><td>this browser</td>" in page.text,
    "the passkey session opens the portal: 'Signed in as', and recent sign-ins list this browser's as passkey",
    show(page),
)
s, token = sign_in_page()
options, _, raw = begin_sign_in(s, token)
check(
    options.rp_id == RP_ID and len(options.challenge) >= 16 and not options.allow_credentials and options.user_verification == UserVerificationRequirement.REQUIRED,
    "request options parse with fido2: rpId, no allowCredentials (discoverable), user verification required",
    json.dumps(raw)[:800],
)

# ----- crafted sign-ins, each correctly signed

*_, r = sign_in(key, 2, origin="https://evil.example")
refused(r, "sign-in with clientDataJSON origin https://evil.example refused")
port = urlsplit(BASE).port or 443
for origin in (f"https://{RP_ID}:{port + 1}", f"http://{RP_ID}:{port}"):
    *_, r = sign_in(key, 2, origin=origin)
    refused(r, f"sign-in with clientDataJSON origin {origin} (same host) refused")
*_, r = sign_in(key, 2, origin=f"{ORIGIN}/any/path?x=1")
refused(r, "sign-in whose clientDataJSON origin carries a path refused (the origin must be exact)")
*_, r = sign_in(key, 2, cross_origin=True, top_origin="https://evil.example")
refused(r, "sign-in made in a cross-origin frame (crossOrigin true, topOrigin evil.example) refused")
signs_in(key, 2, "the passkey still signs in after the origin refusals (counter 2)")
*_, r = sign_in(key, 3, rp_id="evil.example")
refused(r, "sign-in with the rpIdHash of evil.example refused")
*_, r = sign_in(key, 3, kind="webauthn.create")
refused(r, 'sign-in whose clientDataJSON type is "webauthn.create" refused')
*_, r = sign_in(key, 3, flags=FLAG.UP)
refused(r, "sign-in without user verification (flags UP) refused")
*_, r = sign_in(key, 3, tamper="signature")
refused(r, "sign-in with a tampered signature refused")
*_, r = sign_in(key, 3, tamper="authenticatorData")
refused(r, "sign-in with authenticatorData altered after signing refused")

s, token = sign_in_page()
options_a, state_a, _ = begin_sign_in(s, token)
options_b, state_b, _ = begin_sign_in(s, token)
r = finish_sign_in(s, token, state_b, key.get_assertion(options_b, counter=3, challenge=options_a.challenge))
refused(r, "sign-in signing ceremony A's challenge posted with ceremony B's state refused")
r = finish_sign_in(s, token, state_a, key.get_assertion(options_a, counter=3))
check(r.status_code == 200 and answer_json(r) == {"location": PORTAL}, "ceremony A's own answer, posted with its own state, accepted (counter 3)", show(r))

*_, r = sign_in(key, 4, user_handle=uuid.uuid4().bytes)
refused(r, "sign-in with the user handle of no user refused")
others = [u for u in (answer_json(browser().get(f"{BASE}/v1.0/users", headers={"Authorization": f"Bearer {app_token()}"})) or {}).get("value", []) if u.get("id") != str(USER_ID)]
if not others:
    fail("no other user in the directory to borrow a user handle from")
*_, r = sign_in(key, 4, user_handle=uuid.UUID(others[0]["id"]).bytes)
refused(r, f"sign-in with the user handle of another user ({others[0]['userPrincipalName']}) refused")

signs_in(key, 4, "the passkey still signs in after the refusals (counter 4)")

# ----- the signature counter

signs_in(key, 5, "sign-in with counter 5 accepted")
*_, r = sign_in(key, 5)
refused(r, "sign-in with counter 5 again refused")
*_, r = sign_in(key, 3)
refused(r, "sign-in with counter 3 refused")
s, token, state, credential = signs_in(key, 6, "sign-in with counter 6 accepted")
r = finish_sign_in(s, token, state, credential)
refused(r, "the accepted (state, credential) of counter 6 posted again refused", status=400)
signs_in(key, 7, "the passkey still signs in (counter 7)")

# ----- the tenant's key restrictions (Graph authentication methods policy)

# The account has a passkey now: adding another needs a multi-factor session, the passkey's.
mfa_session, _, _, _ = signs_in(key, 8, "sign-in with the passkey for a session to add keys with (counter 8)")
try:
    set_key_restrictions(graph, {"isEnforced": True, "enforcementType": "block", "aaGuids": [str(MODEL_A)]}, f"PATCH Fido2 keyRestrictions blocking AAGUID {MODEL_A}: 204")
    blocked = Authenticator(MODEL_A)
    *_, r = register(mfa_session, blocked, name="Blocked model")
    refused(r, f"registration of a new key of blocked AAGUID {MODEL_A} refused", status=403)
    *_, r = sign_in(key, 9)
    refused(r, f"sign-in with the registered key of blocked AAGUID {MODEL_A} refused", status=403)
    other = Authenticator(MODEL_B)
    options, token, state, credential, r = register(mfa_session, other, name="Other model", counter=1)
    body = answer_json(r) or {}
    check(r.status_code == 200 and body.get("location") == PORTAL, f"registration of a key of AAGUID {MODEL_B} (counter 1) accepted while {MODEL_A} is blocked", show(r))
    r = finish_registration(mfa_session, token, state, credential, "Other model")
    refused(r, "the accepted registration's (state, credential) posted again refused", status=400)
    check(
        b64url_encode(key.credential_id) in [b64url_encode(c.id) for c in options.exclude_credentials or []],
        "its creation options exclude the credential registered already",
    )
    signs_in(other, 2, f"usernameless sign-in with the key of AAGUID {MODEL_B} accepted (counter 2)")
finally:
    restored = graph.patch(FIDO2_POLICY, json={"keyRestrictions": {"isEnforced": False, "aaGuids": []}})
got = graph.get(FIDO2_POLICY)
check(
    restored.status_code == 204 and (answer_json(got) or {}).get("keyRestrictions", {}).get("isEnforced") is False,
    "policy restored: PATCH keyRestrictions isEnforced false, aaGuids [] answered 204 and GET shows it",
    f"{show(restored)}; {show(got)}",
)
signs_in(key, 10, f"the key of AAGUID {MODEL_A} signs in again once the policy is restored (counter 10)")

# ----- onboarding without a password: a Temporary Access Pass, then a passkey

TAP_USER = env("WARD_TAP_USERNAME")
issued = graph.post(f"{BASE}/v1.0/users/{TAP_USER}/authentication/temporaryAccessPassMethods", json={"lifetimeInMinutes": 60})
check(issued.status_code == 201 and (answer_json(issued) or {}).get("temporaryAccessPass"), f"Graph issues {TAP_USER} a Temporary Access Pass", show(issued))
newcomer = password_session(TAP_USER, issued.json()["temporaryAccessPass"])
ok(f"{TAP_USER} (no password) signed in to the security-info portal with a Temporary Access Pass")
first_key = Authenticator(MODEL_B)
*_, r = register(newcomer, first_key, name="First passkey")
check(r.status_code == 200, "the pass's session (tap mfa) registers the account's first passkey", show(r))
plain, asked = risk_of(TAP_USER), risk_of(TAP_USER, "include-unknown-enum-members")
check(
    (plain.get("riskState"), plain.get("riskLevel"), plain.get("riskDetail")) == ("remediated", "none", "unknownFutureValue")
    and asked.get("riskDetail") == "userRegisteredPasskey",
    "and, the session having proved MFA, remediates the newcomer's risk: riskDetail unknownFutureValue, "
    "userRegisteredPasskey with Prefer: include-unknown-enum-members",
    f"{json.dumps(plain)} / {json.dumps(asked)}",
)
s, *_ = signs_in(first_key, 1, "and that passkey signs the newcomer in without a username")
page = s.get(f"{BASE}{PORTAL}", allow_redirects=False)
check(TAP_USER in page.text and "<td>passkey</td>" in page.text, "the portal shows the newcomer signed in with the passkey", show(page))
