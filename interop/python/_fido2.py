"""What the fido2 scripts share: python-fido2 as a software authenticator (an ES256 P-256 key from
`cryptography`; attestation "none", or "packed" with a given certificate and key), answers emitted as
`PublicKeyCredential.toJSON()` does, and the endpoints of Ward's passkey pages (`/static/passkey.js`
calls them), the security-info portal and the Graph authentication methods policy.

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
)

from _signin import post_form
from _ward import BASE, GRAPH, TENANT, b64url_encode, browser, check, env, fail

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

    def make_credential(self, options, *, counter=0, flags=FLAG.UP | FLAG.UV | FLAG.AT, origin=ORIGIN, rp_id=None, attestation=None):
        """`navigator.credentials.create()` answered, as RegistrationResponseJSON. `attestation`:
        None for format "none", or (certificate, private key) for "packed" signed by that key with
        the certificate as x5c."""
        client_data = self._client_data(CollectedClientData.TYPE.CREATE, options.challenge, origin)
        public_key = ES256.from_cryptography_key(self.key.public_key())
        credential = AttestedCredentialData.create(self.aaguid, self.credential_id, public_key)
        auth_data = AuthenticatorData.create(sha256((rp_id or options.rp.id).encode()), flags, counter, credential)
        if attestation is None:
            attestation = AttestationObject.create("none", auth_data, {})
        else:
            cert, signer = attestation
            sig = signer.sign(bytes(auth_data) + client_data.hash, ec.ECDSA(hashes.SHA256()))
            x5c = [cert.public_bytes(serialization.Encoding.DER)]
            attestation = AttestationObject.create("packed", auth_data, {"alg": ES256.ALGORITHM, "sig": sig, "x5c": x5c})
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


def password_session(username=None, password=None):
    """A browser signed in to the security-info portal with WARD_USERNAME's password (or the given
    name and secret: a Temporary Access Pass goes where the password does): the username and the
    password posted together with the first sign-in page's form (its username page; Ward takes both
    at once, as a password manager would post them)."""
    s = browser()
    page = s.get(f"{BASE}{PORTAL}", allow_redirects=False)
    form = post_form(page.text) if page.status_code == 200 else None
    if not form or "username" not in form[1]:
        fail(f"no sign-in form with a username field on the sign-in page: {show(page)}")
    action, fields, _ = form
    fields.update(username=username or USERNAME, password=password or PASSWORD)
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
