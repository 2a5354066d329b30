"""Attestation enforced, against the FIDO metadata an administrator gave Ward as a file.

The test (crates/ward/tests/interop.rs) made an authenticator model of its own: a root certificate,
listed with the model's AAGUID in the metadata file Ward was started with, and an attestation
certificate that root signed (FIDO's packed format: C, O, OU "Authenticator Attestation", CN, not a
CA, the AAGUID extension). This script turns the tenant's `isAttestationEnforced` on through Graph,
then registers keys with python-fido2 as the authenticator:

- attestation "none": refused (nothing vouches for the key);
- "packed", signed by a self-signed certificate with the same names: refused (no known root);
- "packed" from the model's certificate, but an authenticator data claiming another AAGUID than the
  certificate's: refused;
- "packed" from the model's certificate and its AAGUID: accepted, shown by Graph as `attested` with
  the metadata's model name, and it signs in without a username.

Inputs: those of `_fido2.py`, plus WARD_ATTESTATION_AAGUID, WARD_ATTESTATION_CERT and
WARD_ATTESTATION_KEY (PEM).
"""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fido2.webauthn import Aaguid

from _fido2 import FIDO2_POLICY, USERNAME, Authenticator, answer_json, app_token, password_session, refused, register, show, signs_in
from _ward import BASE, TENANT, browser, check, env, ok

AAGUID = Aaguid.parse(env("WARD_ATTESTATION_AAGUID"))
CERT = x509.load_pem_x509_certificate(env("WARD_ATTESTATION_CERT").encode())
KEY = serialization.load_pem_private_key(env("WARD_ATTESTATION_KEY").encode(), password=None)


def self_signed_lookalike():
    """An attestation certificate with the model's names, signed by nobody Ward knows."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(CERT.subject)
        .issuer_name(CERT.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4"), b"\x04\x10" + bytes(AAGUID)), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


check(
    CERT.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "Authenticator Attestation",
    "the model's attestation certificate is shaped as FIDO's packed format asks",
)
graph = browser()
graph.headers["Authorization"] = f"Bearer {app_token()}"
r = graph.patch(FIDO2_POLICY, json={"isAttestationEnforced": True})
check(r.status_code == 204, "PATCH Fido2 isAttestationEnforced true: 204", show(r))
try:
    portal = password_session()
    ok(f"{USERNAME} signed in to the security-info portal with a password")

    *_, r = register(portal, Authenticator(AAGUID), name="No attestation")
    refused(r, 'registration with attestation "none" refused while attestation is enforced', status=403)
    *_, r = register(portal, Authenticator(AAGUID), name="Self-signed", attestation=self_signed_lookalike())
    refused(r, "registration whose packed attestation is self-signed (no known root) refused", status=403)
    other_model = Aaguid.parse("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0")
    *_, r = register(portal, Authenticator(other_model), name="Wrong model", attestation=(CERT, KEY))
    check(400 <= r.status_code < 500, f"registration claiming AAGUID {other_model} under the model's certificate refused ({r.status_code})", show(r))

    key = Authenticator(AAGUID)
    *_, r = register(portal, key, name="Attested key", attestation=(CERT, KEY))
    check(r.status_code == 200 and (answer_json(r) or {}).get("location"), "registration with the model's packed attestation accepted", show(r))

    me = graph.get(f"{BASE}/v1.0/users/{USERNAME}/authentication/fido2Methods")
    keys = (answer_json(me) or {}).get("value", [])
    check(
        me.status_code == 200
        and len(keys) == 1
        and keys[0].get("attestationLevel") == "attested"
        and keys[0].get("aaGuid") == str(AAGUID)
        and keys[0].get("model") == "Ward Test Key",
        f"Graph fido2Methods shows the key as attested, model {keys[0].get('model') if keys else None!r}",
        show(me),
    )
    signs_in(key, 1, "the attested key signs in without a username")
finally:
    restored = graph.patch(FIDO2_POLICY, json={"isAttestationEnforced": False})
    check(restored.status_code == 204, "policy restored: isAttestationEnforced false", show(restored))
ok(f"tenant {TENANT}: attestation enforced against the administrator's metadata file")
