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
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from fido2.cose import ES256
from fido2.utils import sha256
from fido2.webauthn import (
    Aaguid,
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from _signin import post_form
from _ward import BASE, GRAPH, TENANT, b64url_encode, browser, check, env, fail, ok

CLIENT_ID = env("WARD_CLIENT_ID")
SECRET = env("WARD_CLIENT_SECRET")
USERNAME = env("WARD_USERNAME")
PASSWORD = env("WARD_PASSWORD")
ORIGIN = "{0.scheme}://{0.netloc}".format(urlsplit(BASE))
RP_ID = urlsplit(BASE).hostname
PORTAL = f"/{TENANT}/mysecurityinfo"
FIDO2_POLICY = f"{BASE}/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2"
FLAG = AuthenticatorData.FLAG
# Two authenticator models of our own making (AAGUIDs), fixed so that runs compare.
MODEL_A = Aaguid.parse("6f0d1e2a-5b4c-4d3e-8f70-0a1b2c3d4e5f")
MODEL_B = Aaguid.parse("9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# ----- the software authenticator


class Authenticator:
    """One discoverable ES256 credential of an authenticator model (AAGUID), created on demand."""

    def __init__(self, aaguid):
        self.aaguid = aaguid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = uuid.uuid4().bytes + uuid.uuid4().bytes
        self.user_handle = None

    def _client_data(self, kind, challenge, origin, cross_origin=False, top_origin=None):
        extra = {"topOrigin": top_origin} if top_origin else {}
        return CollectedClientData.create(type=kind, challenge=challenge, origin=origin, cross_origin=cross_origin, **extra)

    def make_credential(self, options, *, counter=0, flags=FLAG.UP | FLAG.UV | FLAG.AT, origin=ORIGIN, rp_id=None):
        """`navigator.credentials.create()` answered, as RegistrationResponseJSON."""
        client_data = self._client_data(CollectedClientData.TYPE.CREATE, options.challenge, origin)
        public_key = ES256.from_cryptography_key(self.key.public_key())
        credential = AttestedCredentialData.create(self.aaguid, self.credential_id, public_key)
        auth_data = AuthenticatorData.create(sha256((rp_id or options.rp.id).encode()), flags, counter, credential)
        attestation = AttestationObject.create("none", auth_data, {})
        self.user_handle = options.user.id
        spki = self.key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {
            "id": b64url_encode(self.credential_id),
            "rawId": b64url_encode(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "attestationObject": b64url_encode(attestation),
                "authenticatorData": b64url_encode(auth_data),
                "publicKey": b64url_encode(spki),
                "publicKeyAlgorithm": -7,
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def get_assertion(
        self, options, *, counter, flags=FLAG.UP | FLAG.UV, origin=ORIGIN, rp_id=None, kind=None, challenge=None, user_handle=None, tamper=None,
        cross_origin=False, top_origin=None,
    ):
        """`navigator.credentials.get()` answered, as AuthenticationResponseJSON. Whatever is
        crafted (origin, RP id, type, challenge, flags, counter) is still signed by the real key;
        `tamper` ("signature" or "authenticatorData") alters the answer after signing."""
        client_data = self._client_data(kind or CollectedClientData.TYPE.GET, challenge or options.challenge, origin, cross_origin, top_origin)
        auth_data = AuthenticatorData.create(sha256((rp_id or options.rp_id).encode()), flags, counter)
        signature = self.key.sign(bytes(auth_data) + client_data.hash, ec.ECDSA(hashes.SHA256()))
        auth_bytes = bytes(auth_data)
        if tamper == "signature":
            r, s = decode_dss_signature(signature)
            signature = encode_dss_signature(r, (s + 1) % P256_ORDER)  # well-formed, wrong
        elif tamper == "authenticatorData":
            auth_bytes = bytes(AuthenticatorData.create(auth_data.rp_id_hash, auth_data.flags, auth_data.counter + 1000))
        return {
            "id": b64url_encode(self.credential_id),
            "rawId": b64url_encode(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "authenticatorData": b64url_encode(auth_bytes),
                "signature": b64url_encode(signature),
                "userHandle": b64url_encode(user_handle if user_handle is not None else self.user_handle),
            },
            "clientExtensionResults": {},
        }


# ----- Ward's pages and endpoints


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.by_id = {}

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = a


def element(html, id_):
    parser = _Elements()
    parser.feed(html)
    return parser.by_id.get(id_)


def clean(value):
    """Drops JSON nulls, as passkey.js does before WebAuthn's parsers see the options."""
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    return value


def answer_json(response):
    try:
        return response.json()
    except ValueError:
        return None


def show(response):
    return f"{response.request.method} {urlsplit(response.url).path} answered {response.status_code}: {response.text[:400]}"


def sign_in_page():
    """A fresh browser on the sign-in page: (session, the passkey button's CSRF token)."""
    s = browser()
    page = s.get(f"{BASE}{PORTAL}", allow_redirects=False)
    button = element(page.text, "passkey-signin") if page.status_code == 200 else None
    if not button or button.get("data-tenant") != TENANT or button.get("data-continue") != PORTAL or not button.get("data-csrf"):
        fail(f"the sign-in page has no passkey button for this tenant: {show(page)}")
    return s, button["data-csrf"]


def password_session():
    """A browser signed in to the security-info portal with WARD_USERNAME's password."""
    s = browser()
    page = s.get(f"{BASE}{PORTAL}", allow_redirects=False)
    form = post_form(page.text) if page.status_code == 200 else None
    if not form or not form[2]:
        fail(f"no password form on the sign-in page: {show(page)}")
    action, fields, _ = form
    fields.update(username=USERNAME, password=PASSWORD)
    done = s.post(urljoin(page.url, action), data=fields, allow_redirects=False)
    if done.status_code != 303 or urlsplit(urljoin(done.url, done.headers.get("Location", ""))).path != PORTAL:
        fail(f"password sign-in: {show(done)}")
    return s


def begin_sign_in(s, token):
    r = s.post(f"{BASE}/{TENANT}/login/passkey/options", data={"csrf_token": token, "continue": PORTAL}, allow_redirects=False)
    body = answer_json(r)
    if r.status_code != 200 or not body or "state" not in body:
        fail(f"passkey sign-in options: {show(r)}")
    return PublicKeyCredentialRequestOptions.from_dict(clean(body["options"]["publicKey"])), body["state"], body


def finish_sign_in(s, token, state, credential):
    data = {"csrf_token": token, "continue": PORTAL, "state": state, "credential": json.dumps(credential)}
    return s.post(f"{BASE}/{TENANT}/login/passkey", data=data, allow_redirects=False)


def portal_token(s):
    page = s.get(f"{BASE}{PORTAL}/passkey", allow_redirects=False)
    form = element(page.text, "passkey-register") if page.status_code == 200 else None
    if not form or not form.get("data-csrf"):
        fail(f"no passkey registration form: {show(page)}")
    return form["data-csrf"]


def begin_registration(s, token):
    r = s.post(f"{BASE}{PORTAL}/passkey/options", data={"csrf_token": token}, allow_redirects=False)
    body = answer_json(r)
    if r.status_code != 200 or not body or "state" not in body:
        fail(f"passkey registration options: {show(r)}")
    return PublicKeyCredentialCreationOptions.from_dict(clean(body["options"]["publicKey"])), body["state"], body


def finish_registration(s, token, state, credential, name):
    data = {"csrf_token": token, "state": state, "name": name, "credential": json.dumps(credential)}
    return s.post(f"{BASE}{PORTAL}/passkey", data=data, allow_redirects=False)


def refused(response, message, status=None):
    """A 4xx (or exactly `status`) with Ward's JSON error; the line shows what Ward said."""
    body = answer_json(response)
    good = (response.status_code == status if status else 400 <= response.status_code < 500) and isinstance(body, dict) and isinstance(body.get("error"), str)
    check(good, f"{message} ({response.status_code}: {body.get('error') if good else ''})", show(response))


def register(s, authenticator, *, name="Interop passkey", counter=0, **crafted):
    """One registration ceremony with fresh options; returns (options, token, state, credential, response)."""
    token = portal_token(s)
    options, state, _ = begin_registration(s, token)
    credential = authenticator.make_credential(options, counter=counter, **crafted)
    return options, token, state, credential, finish_registration(s, token, state, credential, name)


def sign_in(authenticator, counter, **crafted):
    """One usernameless sign-in ceremony in a fresh browser; returns (browser, token, state, credential, response)."""
    s, token = sign_in_page()
    options, state, _ = begin_sign_in(s, token)
    credential = authenticator.get_assertion(options, counter=counter, **crafted)
    return s, token, state, credential, finish_sign_in(s, token, state, credential)


def signs_in(authenticator, counter, message):
    """A good sign-in: 200 with the continuation, and a session cookie set."""
    s, token, state, credential, r = sign_in(authenticator, counter)
    body = answer_json(r)
    check(r.status_code == 200 and body == {"location": PORTAL} and r.cookies, message, show(r))
    return s, token, state, credential


def app_token():
    r = browser().post(
        f"{BASE}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "scope": f"{GRAPH}/.default"},
    )
    if r.status_code != 200 or "access_token" not in (answer_json(r) or {}):
        fail(f"no app-only token from Ward: {show(r)}")
    return r.json()["access_token"]


def set_key_restrictions(graph, restrictions, message):
    r = graph.patch(FIDO2_POLICY, json={"keyRestrictions": restrictions})
    check(r.status_code == 204, message, show(r))
    got = graph.get(FIDO2_POLICY)
    config = answer_json(got) or {}
    held = config.get("keyRestrictions", {})
    check(
        got.status_code == 200 and all(held.get(k) == v for k, v in restrictions.items()),
        f"GET Fido2 configuration shows keyRestrictions {json.dumps(restrictions)}",
        show(got),
    )


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
graph = browser()
graph.headers["Authorization"] = f"Bearer {app_token()}"
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

