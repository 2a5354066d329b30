//! FIDO2 / WebAuthn: passkeys and security keys, added on the security-info page and used to sign
//! in without typing a name (discoverable credentials). The ceremonies are webauthn-rs's; what Ward
//! adds is the policy around them.
//!
//! - **User verification is required**, at registration and at every sign-in: a key that only
//!   proves presence is refused.
//! - **Ceremony state stays with Ward.** The challenge and its state are sealed under the
//!   key-encryption key, bound to the browser's anti-forgery cookie, the tenant and five minutes,
//!   and accepted once across nodes (the store remembers each one used): a replayed ceremony fails.
//! - **Stored credentials are sealed** (public key, algorithm, flags): a database writer cannot swap
//!   in a key of their own. The signature counter lives beside it in the store and must grow on
//!   every use by an authenticator that counts (a clone shows up as a counter that did not).
//! - **Tenant policy** (the Fido2 configuration of the authentication methods policy): who may
//!   use passkeys, allowed or blocked AAGUIDs, and attestation enforced against the FIDO metadata
//!   an administrator supplies as a file.

use crate::signin::{SignInError, SignedIn};
use crate::token::TokenService;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use time::Duration;
use uuid::Uuid;
use ward_core::ObjectId;
use ward_core::store::{StoredAuthMethod, StoredSession};
use ward_core::tenant::Tenant;
use ward_core::user::User;
use webauthn_rs::prelude::*;
use webauthn_rs_core::internals::AuthenticatorData;
use webauthn_rs_core::proto::Registration;

pub const FIDO2: &str = "fido2";
/// How long a person has between the browser's prompt appearing and answering it.
pub const CEREMONY_LIFETIME: Duration = Duration::minutes(5);
const MAX_KEYS: usize = 20;
/// A credential posted back by a browser is a few kilobytes at most (attestation certificates
/// included); anything bigger is refused before parsing.
pub const MAX_CREDENTIAL_JSON: usize = 64 * 1024;

#[derive(Debug, PartialEq)]
pub enum PasskeyError {
    /// The ceremony is unknown, altered, too old, for another browser, or was used already.
    Expired,
    /// The authenticator's answer did not verify (origin, RP id, signature, flags, counter…).
    Refused(&'static str),
    /// The tenant's policy does not let this person use or add passkeys.
    NotEnabled,
    /// Conditional access does not let this person register security information now.
    Conditional(u32, &'static str),
    /// The authenticator's model (AAGUID) is not permitted by the tenant's key restrictions.
    KeyNotPermitted,
    /// The tenant enforces attestation, and the authenticator's did not chain to a known root.
    AttestationRequired,
    /// No passkey of this account matches (removed, or never registered here).
    UnknownCredential,
    Disabled,
    TooMany,
    Unavailable,
}

/// An authenticator model from the FIDO metadata.
#[derive(Clone, Debug)]
pub struct MetadataEntry {
    pub description: String,
    /// The latest status report (`FIDO_CERTIFIED_L1`, `REVOKED`, …).
    pub status: Option<String>,
}

impl MetadataEntry {
    /// Statuses under which an authenticator must not be registered (FIDO MDS §3.1.4).
    pub fn compromised(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some(
                "REVOKED"
                    | "ATTESTATION_KEY_COMPROMISE"
                    | "USER_KEY_REMOTE_COMPROMISE"
                    | "USER_KEY_PHYSICAL_COMPROMISE"
                    | "USER_VERIFICATION_BYPASS"
            )
        )
    }
}

/// FIDO metadata loaded from an administrator's file: models by AAGUID and the attestation roots
/// registrations must chain to when a tenant enforces attestation.
pub struct Fido2Metadata {
    pub entries: HashMap<Uuid, MetadataEntry>,
    roots: AttestationCaList,
}

impl std::fmt::Debug for Fido2Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fido2Metadata({} models)", self.entries.len())
    }
}

impl Fido2Metadata {
    /// Reads FIDO metadata: either the MDS3 BLOB as the FIDO Alliance publishes it (a JWT, whose
    /// signature must chain to the FIDO roots), or its payload as JSON (`{"entries": [...]}`),
    /// which the administrator vouches for by placing it. No download happens, ever.
    pub fn parse(text: &str) -> Result<Fido2Metadata, String> {
        let text = text.trim();
        let payload: Value = if text.starts_with('{') {
            serde_json::from_str(text).map_err(|e| format!("the metadata file is not valid JSON: {e}"))?
        } else {
            text.parse::<fido_mds::FidoMds>().map_err(|e| format!("the metadata BLOB did not verify against the FIDO roots: {e:?}"))?;
            let body = text.split('.').nth(1).ok_or("the metadata BLOB is not a JWT")?;
            let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, body.trim_end_matches('='))
                .map_err(|_| "the metadata BLOB's payload is not base64url")?;
            serde_json::from_slice(&bytes).map_err(|e| format!("the metadata BLOB's payload is not JSON: {e}"))?
        };
        let list = payload["entries"].as_array().ok_or("the metadata has no \"entries\" array")?;
        let mut entries = HashMap::new();
        let mut roots = AttestationCaListBuilder::new();
        for (i, e) in list.iter().enumerate() {
            // Only FIDO2 authenticators (identified by AAGUID) concern WebAuthn.
            let Some(aaguid) = e["aaguid"].as_str() else { continue };
            let aaguid: Uuid = aaguid.parse().map_err(|_| format!("entry {i}: aaguid is not a GUID"))?;
            let statement = &e["metadataStatement"];
            let description = statement["description"].as_str().unwrap_or("Unknown authenticator").to_string();
            let status = e["statusReports"]
                .as_array()
                .and_then(|r| r.iter().max_by_key(|s| s["effectiveDate"].as_str().unwrap_or("").to_string()))
                .and_then(|s| s["status"].as_str())
                .map(str::to_string);
            for (j, root) in statement["attestationRootCertificates"].as_array().map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
                let der = root
                    .as_str()
                    .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).ok())
                    .ok_or_else(|| format!("entry {i}: attestationRootCertificates[{j}] is not base64"))?;
                roots
                    .insert_device_der(&der, aaguid, description.clone(), Default::default())
                    .map_err(|e| format!("entry {i}: attestationRootCertificates[{j}] is not a certificate: {e:?}"))?;
            }
            entries.insert(aaguid, MetadataEntry { description, status });
        }
        Ok(Fido2Metadata { entries, roots: roots.build() })
    }
}

/// The AAGUID an authenticator claims in its attested credential data (present in every
/// registration, whatever the attestation format: without attestation it is only a claim).
fn claimed_aaguid(reg: &RegisterPublicKeyCredential) -> Option<Uuid> {
    let obj: serde_cbor_2::Value = serde_cbor_2::from_slice(reg.response.attestation_object.as_ref()).ok()?;
    let serde_cbor_2::Value::Map(map) = obj else { return None };
    let Some(serde_cbor_2::Value::Bytes(auth_data)) = map.get(&serde_cbor_2::Value::Text("authData".into())) else { return None };
    let data = AuthenticatorData::<Registration>::try_from(auth_data.as_slice()).ok()?;
    data.acd.map(|acd| Uuid::from_bytes(acd.aaguid))
}

/// Ward's own reading of the client data, on top of the library's: the origin must be exactly
/// Ward's public origin (as the browser serialises it, no path, no trailing slash), and the
/// ceremony must not have run in a frame of another site (`crossOrigin`, `topOrigin`): Ward's
/// pages are never framed (`frame-ancestors 'none'`), so such an answer was not made on them.
fn client_data_is_ours(client_data_json: &[u8], public_url: &str) -> bool {
    let Ok(data) = serde_json::from_slice::<Value>(client_data_json) else { return false };
    let Ok(url) = Url::parse(public_url) else { return false };
    let expected = url.origin().ascii_serialization();
    data["origin"].as_str() == Some(expected.as_str()) && data["crossOrigin"].as_bool() != Some(true) && data.get("topOrigin").is_none()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl TokenService {
    /// The relying party: the public URL's host is the RP id, its origin the only origin.
    fn relying_party(&self, tenant: &Tenant) -> Result<Webauthn, PasskeyError> {
        let origin = Url::parse(self.public_url()).map_err(|_| PasskeyError::Unavailable)?;
        let rp_id = origin.host_str().ok_or(PasskeyError::Unavailable)?.to_string();
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| {
                b.rp_name(&tenant.display_name).timeout(std::time::Duration::from_secs(CEREMONY_LIFETIME.whole_seconds() as u64)).build()
            })
            .map_err(|e| {
                tracing::error!(error = %e, "the public URL cannot serve as a WebAuthn relying party");
                PasskeyError::Unavailable
            })
    }

    /// Is the Fido2 method enabled for `user` by the tenant's policy?
    pub async fn passkeys_enabled_for(&self, tenant: &Tenant, user: ObjectId) -> Result<bool, PasskeyError> {
        self.method_enabled(tenant, user, &tenant.settings.auth_methods.fido2.targets).await.map_err(|_| PasskeyError::Unavailable)
    }

    /// The user's passkeys and security keys.
    pub async fn fido2_methods(&self, tenant: &Tenant, user: ObjectId) -> Result<Vec<StoredAuthMethod>, PasskeyError> {
        let all = self.directory.store().auth_methods(tenant.id, user).await.map_err(|_| PasskeyError::Unavailable)?;
        Ok(all.into_iter().filter(|m| m.kind == FIDO2).collect())
    }

    fn seal_ceremony(&self, purpose: &str, binding: &str, claims: Value) -> Result<String, PasskeyError> {
        self.keys.seal_secret(&format!("passkey {purpose}:{binding}"), claims.to_string().as_bytes()).ok_or(PasskeyError::Unavailable)
    }

    /// Opens a sealed ceremony and marks it used (once, across nodes).
    async fn open_ceremony(&self, purpose: &str, tenant: &Tenant, binding: &str, sealed: &str) -> Result<Value, PasskeyError> {
        let now = self.directory.now();
        let claims = self
            .keys
            .open_secret(&format!("passkey {purpose}:{binding}"), sealed)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .ok_or(PasskeyError::Expired)?;
        let exp = claims["exp"].as_i64().ok_or(PasskeyError::Expired)?;
        if claims["tid"].as_str() != Some(&tenant.id.to_string()) || exp <= now.unix_timestamp() {
            return Err(PasskeyError::Expired);
        }
        let expires = time::OffsetDateTime::from_unix_timestamp(exp).map_err(|_| PasskeyError::Expired)?;
        let fresh = self
            .directory
            .store()
            .remember_assertion(&crate::crypto::sha256_b64(format!("passkey ceremony:{sealed}").as_bytes()), expires)
            .await
            .map_err(|_| PasskeyError::Unavailable)?;
        if !fresh {
            tracing::warn!(tenant = %tenant.id, "a passkey ceremony was presented twice");
            return Err(PasskeyError::Expired);
        }
        Ok(claims)
    }

    /// Starts adding a passkey for the signed-in `user`: the options for
    /// `navigator.credentials.create()` and the sealed state that must come back with the answer.
    pub async fn begin_passkey_registration(
        &self,
        tenant: &Tenant,
        user: &User,
        session: &StoredSession,
        binding: &str,
    ) -> Result<(Value, String), PasskeyError> {
        let policy = &tenant.settings.auth_methods.fido2;
        if !policy.self_service_registration || !self.passkeys_enabled_for(tenant, user.id).await? {
            return Err(PasskeyError::NotEnabled);
        }
        let existing = self.fido2_methods(tenant, user.id).await?;
        if existing.len() >= MAX_KEYS {
            return Err(PasskeyError::TooMany);
        }
        let exclude: Vec<CredentialID> = existing
            .iter()
            .filter_map(|m| m.doc["credentialId"].as_str())
            .filter_map(|c| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, c).ok())
            .collect();
        let rp = self.relying_party(tenant)?;
        let name = user.user_principal_name.as_str();
        let handle = user.id.as_uuid();
        let (mut options, state) = if policy.attestation_enforced {
            let roots = self.fido_metadata.as_ref().map(|m| m.roots.clone()).filter(|r| !r.is_empty()).ok_or_else(|| {
                tracing::warn!(tenant = %tenant.id, "attestation is enforced but no FIDO metadata is configured");
                PasskeyError::AttestationRequired
            })?;
            let (o, s) =
                rp.start_attested_passkey_registration(handle, name, &user.display_name, Some(exclude), roots, None).map_err(|e| {
                    tracing::error!(error = %e, "starting a passkey registration failed");
                    PasskeyError::Unavailable
                })?;
            (o, serde_json::to_value(&s).map_err(|_| PasskeyError::Unavailable)?)
        } else {
            let (o, s) = rp.start_passkey_registration(handle, name, &user.display_name, Some(exclude)).map_err(|e| {
                tracing::error!(error = %e, "starting a passkey registration failed");
                PasskeyError::Unavailable
            })?;
            (o, serde_json::to_value(&s).map_err(|_| PasskeyError::Unavailable)?)
        };
        // A discoverable credential, so that the person can sign in without typing their name.
        if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
            sel.require_resident_key = true;
            sel.resident_key = Some(webauthn_rs_core::proto::ResidentKeyRequirement::Required);
        }
        let now = self.directory.now();
        let claims = json!({
            "tid": tenant.id, "uid": user.id, "sid": session.id, "exp": (now + CEREMONY_LIFETIME).unix_timestamp(),
            "attested": policy.attestation_enforced, "state": state,
        });
        let sealed = self.seal_ceremony("registration", binding, claims)?;
        Ok((serde_json::to_value(&options).map_err(|_| PasskeyError::Unavailable)?, sealed))
    }

    /// Verifies the browser's answer to a registration and stores the new passkey.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_passkey_registration(
        &self,
        tenant: &Tenant,
        user: &User,
        session: &StoredSession,
        binding: &str,
        sealed: &str,
        credential: &str,
        display_name: &str,
    ) -> Result<StoredAuthMethod, PasskeyError> {
        let claims = self.open_ceremony("registration", tenant, binding, sealed).await?;
        if claims["uid"].as_str() != Some(&user.id.to_string()) || claims["sid"].as_str() != Some(&session.id.to_string()) {
            return Err(PasskeyError::Expired);
        }
        if credential.len() > MAX_CREDENTIAL_JSON {
            return Err(PasskeyError::Refused("The answer from your security key is too large."));
        }
        if let Err((code, message)) = self.may_register_security_info(tenant, user, session).await {
            return Err(PasskeyError::Conditional(code, message));
        }
        let reg: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| PasskeyError::Refused("The answer from your security key is not valid."))?;
        if !client_data_is_ours(&reg.response.client_data_json, self.public_url()) {
            tracing::info!(tenant = %tenant.id, user = %user.id, "passkey registration refused: origin or framing not Ward's");
            return Err(PasskeyError::Refused("Your security key's answer could not be verified. Try again."));
        }
        let policy = &tenant.settings.auth_methods.fido2;
        if !self.passkeys_enabled_for(tenant, user.id).await? {
            return Err(PasskeyError::NotEnabled);
        }
        let rp = self.relying_party(tenant)?;
        let attested_ceremony = claims["attested"].as_bool() == Some(true);
        let refused = |e: WebauthnError| {
            tracing::info!(tenant = %tenant.id, user = %user.id, error = %e, "passkey registration refused");
            match e {
                WebauthnError::AttestationNotVerifiable
                | WebauthnError::AttestationUntrustedAaguid
                | WebauthnError::AttestationFormatMissingAaguid
                | WebauthnError::AttestationChainNotTrusted(_)
                | WebauthnError::AttestationCertificateTrustStoreEmpty
                | WebauthnError::AttestationLeafCertMissing
                | WebauthnError::MissingAttestationCaList
                | WebauthnError::CredentialMayNotBeHardwareBound
                    if attested_ceremony =>
                {
                    PasskeyError::AttestationRequired
                }
                _ => PasskeyError::Refused("Your security key's answer could not be verified. Try again."),
            }
        };
        let (cred, attested): (Credential, bool) = if attested_ceremony {
            let state: AttestedPasskeyRegistration = serde_json::from_value(claims["state"].clone()).map_err(|_| PasskeyError::Expired)?;
            (rp.finish_attested_passkey_registration(&reg, &state).map_err(refused)?.into(), true)
        } else {
            let state: PasskeyRegistration = serde_json::from_value(claims["state"].clone()).map_err(|_| PasskeyError::Expired)?;
            (rp.finish_passkey_registration(&reg, &state).map_err(refused)?.into(), false)
        };
        if !cred.user_verified {
            return Err(PasskeyError::Refused("Your security key did not verify you (PIN or biometric)."));
        }
        let aaguid = match &cred.attestation.metadata {
            AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => *aaguid,
            _ => claimed_aaguid(&reg).unwrap_or_default(),
        };
        if !policy.aaguid_permitted(aaguid) {
            tracing::info!(tenant = %tenant.id, user = %user.id, %aaguid, "passkey registration refused by key restrictions");
            return Err(PasskeyError::KeyNotPermitted);
        }
        let model = self.fido_metadata.as_ref().and_then(|m| m.entries.get(&aaguid));
        if model.is_some_and(MetadataEntry::compromised) {
            tracing::warn!(tenant = %tenant.id, user = %user.id, %aaguid, "passkey registration refused: the model's metadata reports a compromise");
            return Err(PasskeyError::KeyNotPermitted);
        }
        let existing = self.fido2_methods(tenant, user.id).await?;
        let cred_id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cred.cred_id.as_slice());
        if existing.iter().any(|m| m.doc["credentialId"].as_str() == Some(&cred_id)) {
            return Err(PasskeyError::Refused("This passkey is registered already."));
        }
        if existing.len() >= MAX_KEYS {
            return Err(PasskeyError::TooMany);
        }
        let now = self.directory.now();
        let id = Uuid::new_v4();
        let display_name = match display_name.trim() {
            "" => model.map(|m| m.description.clone()).unwrap_or_else(|| "Passkey".into()),
            n => n.chars().take(64).collect(),
        };
        let sealed_cred = self
            .keys
            .seal_secret(&format!("fido2:{id}"), &serde_json::to_vec(&cred).map_err(|_| PasskeyError::Unavailable)?)
            .ok_or(PasskeyError::Unavailable)?;
        let method = StoredAuthMethod {
            id,
            tenant_id: tenant.id,
            user_id: user.id,
            kind: FIDO2.into(),
            doc: json!({
                "displayName": display_name,
                "createdDateTime": rfc3339(now),
                "aaGuid": aaguid,
                "model": model.map(|m| m.description.clone()),
                "attestationLevel": if attested { "attested" } else { "notAttested" },
                "credentialId": cred_id,
                "backupEligible": cred.backup_eligible,
            }),
            secret_sealed: Some(sealed_cred),
            last_step: Some(i64::from(cred.counter)),
            created_at: now,
        };
        self.directory.store().add_auth_method(&method).await.map_err(|_| PasskeyError::Unavailable)?;
        tracing::info!(tenant = %tenant.id, user = %user.id, method = %id, %aaguid, attested, "passkey registered");
        self.audit_security_info(tenant, user, "User registered security info", FIDO2).await;
        // A tenant that has moved its people to passkeys may let a new one remediate a user at
        // risk, when the session proved MFA (a password alone proves nothing about who is there).
        if tenant.settings.passkey_registration_remediates_risk
            && session.amr.split_whitespace().any(|a| a == "mfa")
            && let Err(e) = self.directory.remediate_risk(tenant.id, user.id, ward_risk::Remediation::PasskeyRegistration).await
        {
            tracing::error!(error = %e, "remediating risk after a passkey registration failed");
        }
        Ok(method)
    }

    /// Starts a sign-in with a passkey, no name asked: options for `navigator.credentials.get()`
    /// and the sealed state.
    pub fn begin_passkey_sign_in(&self, tenant: &Tenant, binding: &str) -> Result<(Value, String), PasskeyError> {
        let rp = self.relying_party(tenant)?;
        let (mut options, state) = rp.start_discoverable_authentication().map_err(|_| PasskeyError::Unavailable)?;
        // Asked for with a button, not from the name field's autofill.
        options.mediation = None;
        let now = self.directory.now();
        let claims = json!({ "tid": tenant.id, "exp": (now + CEREMONY_LIFETIME).unix_timestamp(), "state": serde_json::to_value(&state).map_err(|_| PasskeyError::Unavailable)? });
        let sealed = self.seal_ceremony("sign-in", binding, claims)?;
        Ok((serde_json::to_value(&options).map_err(|_| PasskeyError::Unavailable)?, sealed))
    }

    /// Verifies a passkey sign-in and starts the session. Its `amr` is `fido`, `hwk` for a key
    /// bound to one device or `swk` for a synced passkey, and `mfa` (a verified user's passkey is
    /// two factors in one).
    pub async fn finish_passkey_sign_in(
        &self,
        tenant: &Tenant,
        binding: &str,
        sealed: &str,
        credential: &str,
        persistent: bool,
    ) -> Result<SignedIn, PasskeyError> {
        let claims = self.open_ceremony("sign-in", tenant, binding, sealed).await?;
        if credential.len() > MAX_CREDENTIAL_JSON {
            return Err(PasskeyError::Refused("The answer from your security key is too large."));
        }
        let answer: PublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| PasskeyError::Refused("The answer from your security key is not valid."))?;
        if !client_data_is_ours(&answer.response.client_data_json, self.public_url()) {
            tracing::info!(tenant = %tenant.id, "passkey sign-in refused: origin or framing not Ward's");
            return Err(PasskeyError::Refused("Your security key's answer could not be verified. Try again."));
        }
        let state: DiscoverableAuthentication = serde_json::from_value(claims["state"].clone()).map_err(|_| PasskeyError::Expired)?;
        let rp = self.relying_party(tenant)?;
        let (handle, cred_id) = rp.identify_discoverable_authentication(&answer).map_err(|_| PasskeyError::UnknownCredential)?;
        let cred_id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cred_id);
        let user = match self.directory.user(tenant.id, &handle.to_string()).await {
            Ok(u) => u,
            Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Err(PasskeyError::UnknownCredential),
            Err(_) => return Err(PasskeyError::Unavailable),
        };
        let key = (tenant.id, format!("user:{}", user.id));
        let now = self.directory.now();
        if self.locked_until(&key, now).await.is_some() {
            return Err(PasskeyError::Refused("Your account is temporarily locked after too many failed attempts. Try again later."));
        }
        if !user.account_enabled {
            return Err(PasskeyError::Disabled);
        }
        let method = self
            .fido2_methods(tenant, user.id)
            .await?
            .into_iter()
            .find(|m| m.doc["credentialId"].as_str() == Some(&cred_id))
            .ok_or(PasskeyError::UnknownCredential)?;
        if !self.passkeys_enabled_for(tenant, user.id).await? {
            return Err(PasskeyError::NotEnabled);
        }
        let aaguid = method.doc["aaGuid"].as_str().and_then(|a| a.parse().ok()).unwrap_or_default();
        if !tenant.settings.auth_methods.fido2.aaguid_permitted(aaguid) {
            return Err(PasskeyError::KeyNotPermitted);
        }
        let mut cred: Credential = method
            .secret_sealed
            .as_deref()
            .and_then(|s| self.keys.open_secret(&format!("fido2:{}", method.id), s))
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                tracing::error!(tenant = %tenant.id, method = %method.id, "a stored passkey does not open: altered, or sealed under another key");
                PasskeyError::Unavailable
            })?;
        // The counter as last accepted, whichever node accepted it.
        cred.counter = u32::try_from(method.last_step.unwrap_or(0)).unwrap_or(u32::MAX);
        let result = match rp.finish_discoverable_authentication_v2(&answer, state, &cred) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(tenant = %tenant.id, user = %user.id, error = %e, "passkey sign-in refused");
                self.record_failure(key, now).await;
                return Err(match e {
                    WebauthnError::CredentialPossibleCompromise => PasskeyError::Refused(
                        "This passkey's use counter went backwards: it may have been copied. Contact your administrator.",
                    ),
                    WebauthnError::UserNotVerified => PasskeyError::Refused("Your security key did not verify you (PIN or biometric)."),
                    _ => PasskeyError::Refused("Your security key's answer could not be verified. Try again."),
                });
            }
        };
        if !result.user_verified() {
            self.record_failure(key, now).await;
            return Err(PasskeyError::Refused("Your security key did not verify you (PIN or biometric)."));
        }
        // Counting authenticators must count up on every node: the store accepts each value once.
        if result.counter() > 0 {
            let fresh = self
                .directory
                .store()
                .use_otp_step(tenant.id, method.id, i64::from(result.counter()))
                .await
                .map_err(|_| PasskeyError::Unavailable)?;
            if !fresh {
                tracing::warn!(tenant = %tenant.id, user = %user.id, method = %method.id, "passkey counter did not advance: refused");
                return Err(PasskeyError::Refused(
                    "This passkey's use counter went backwards: it may have been copied. Contact your administrator.",
                ));
            }
        }
        self.clear_failures(&key).await;
        let amr = if result.backup_eligible() { "fido swk mfa" } else { "fido hwk mfa" };
        self.assess_sign_in(tenant, &user, None).await;
        self.start_session(tenant, user, amr, persistent).await.map_err(|e| match e {
            SignInError::Disabled => PasskeyError::Disabled,
            _ => PasskeyError::Unavailable,
        })
    }
}

/// The metadata a server was started with, shared by every request.
pub type SharedMetadata = Option<Arc<Fido2Metadata>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_json_payload_names_models_and_flags_compromise() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let text = json!({ "entries": [
            { "aaguid": a, "metadataStatement": { "description": "Example Key" }, "statusReports": [{ "status": "FIDO_CERTIFIED_L1", "effectiveDate": "2024-01-01" }] },
            { "aaguid": b, "metadataStatement": { "description": "Bad Key" }, "statusReports": [
                { "status": "FIDO_CERTIFIED", "effectiveDate": "2020-01-01" }, { "status": "REVOKED", "effectiveDate": "2025-06-01" } ] },
            { "aaid": "4e4e#4005", "metadataStatement": { "description": "UAF, ignored" } },
        ] })
        .to_string();
        let m = Fido2Metadata::parse(&text).unwrap();
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[&a].description, "Example Key");
        assert!(!m.entries[&a].compromised());
        assert!(m.entries[&b].compromised());
        assert!(m.roots.is_empty());
    }

    #[test]
    fn client_data_must_come_from_wards_own_origin_unframed() {
        let ours = |v: Value| client_data_is_ours(v.to_string().as_bytes(), "https://id.example.com/");
        assert!(ours(json!({ "type": "webauthn.get", "origin": "https://id.example.com" })));
        assert!(ours(json!({ "type": "webauthn.get", "origin": "https://id.example.com", "crossOrigin": false })));
        for bad in [
            json!({ "origin": "https://id.example.com/" }),
            json!({ "origin": "https://id.example.com/any/path?x=1" }),
            json!({ "origin": "https://id.example.com:8443" }),
            json!({ "origin": "http://id.example.com" }),
            json!({ "origin": "https://evil.example" }),
            json!({ "origin": "https://id.example.com", "crossOrigin": true }),
            json!({ "origin": "https://id.example.com", "topOrigin": "https://evil.example" }),
            json!({}),
        ] {
            assert!(!ours(bad.clone()), "{bad}");
        }
        assert!(!client_data_is_ours(b"not json", "https://id.example.com"));
    }

    #[test]
    fn metadata_that_is_not_trusted_or_not_well_formed_is_refused() {
        assert!(Fido2Metadata::parse("{}").is_err());
        assert!(Fido2Metadata::parse(r#"{"entries":[{"aaguid":"nope"}]}"#).is_err());
        assert!(Fido2Metadata::parse(r#"{"entries":[{"aaguid":"00000000-0000-0000-0000-000000000001","metadataStatement":{"attestationRootCertificates":["AAAA"]}}]}"#).is_err());
        // A JWT signed by anyone but the FIDO Alliance's chain is not metadata.
        let fake = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJlbnRyaWVzIjpbXX0.c2ln";
        assert!(Fido2Metadata::parse(fake).unwrap_err().contains("did not verify"));
    }
}
