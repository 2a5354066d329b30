//! Devices (Graph's `device`): the registry conditional access reads. A device is registered with
//! the public key it proves itself with at sign-in (a JWK, in `alternativeSecurityIds`); its
//! compliance is set by the management (MDM) app that manages it, and by no other.

use crate::{Directory, Result};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use ward_core::store::WriteOp;
use ward_core::{DirectoryError, ObjectId, ObjectKind, TenantId};

/// Most devices per tenant.
pub const MAX_DEVICES: i64 = 1_000_000;

const TEXT: [&str; 8] = [
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "manufacturer",
    "model",
    "enrollmentProfileName",
    "profileType",
    "deviceOwnership",
];
/// Written by PATCH besides the text properties (and compliance only by the device's manager).
const OTHER_WRITABLE: [&str; 7] =
    ["accountEnabled", "trustType", "extensionAttributes", "physicalIds", "systemLabels", "isCompliant", "isManaged"];
/// What only the device's management app may change.
pub const COMPLIANCE: [&str; 2] = ["isCompliant", "isManaged"];

fn invalid(property: &'static str, message: impl Into<String>) -> DirectoryError {
    DirectoryError::invalid(property, message.into())
}

/// The device key a registration names: `alternativeSecurityIds[0].key`, base64 of a JWK.
fn device_key(v: &Value) -> Result<Value> {
    let key = v
        .get("alternativeSecurityIds")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|k| k.get("key"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("alternativeSecurityIds", "a device is registered with its public key (alternativeSecurityIds[0].key)"))?;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| invalid("alternativeSecurityIds", "the key must be base64 (of the device's public JWK)"))?;
    let jwk: Value =
        serde_json::from_slice(&bytes).map_err(|_| invalid("alternativeSecurityIds", "the key must be the device's public JWK"))?;
    if jwk.get("d").is_some() {
        return Err(invalid("alternativeSecurityIds", "the key must be public: a private key is refused"));
    }
    ward_core::client_key::parse_jwk(&jwk).map_err(|e| invalid("alternativeSecurityIds", e.to_string()))?;
    Ok(jwk)
}

/// Checks and applies writable properties of `patch` onto `doc`.
fn apply(doc: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<()> {
    for (k, v) in patch {
        if k.starts_with('@') {
            continue;
        }
        if !TEXT.contains(&k.as_str()) && !OTHER_WRITABLE.contains(&k.as_str()) {
            return Err(invalid("device", format!("'{}' cannot be written on a device", ward_core::validate::clip(k))));
        }
        match k.as_str() {
            "accountEnabled" if v.is_boolean() => {}
            "isCompliant" | "isManaged" if v.is_boolean() || v.is_null() => {}
            t if TEXT.contains(&t) && (v.is_null() || v.as_str().is_some_and(|s| s.chars().count() <= 256)) => {}
            "trustType" if matches!(v.as_str(), Some("AzureAd" | "ServerAd" | "Workplace")) => {}
            "physicalIds" | "systemLabels"
                if v.as_array().is_some_and(|a| a.len() <= 100 && a.iter().all(|s| s.as_str().is_some_and(|s| s.len() <= 256))) => {}
            "extensionAttributes" => {
                let Some(attrs) = v.as_object() else { return Err(invalid("extensionAttributes", "must be an object")) };
                let target = doc.entry("extensionAttributes").or_insert_with(|| json!({}));
                for (name, value) in attrs {
                    let n: Option<u8> = name.strip_prefix("extensionAttribute").and_then(|n| n.parse().ok());
                    if !n.is_some_and(|n| (1..=15).contains(&n)) {
                        return Err(invalid(
                            "extensionAttributes",
                            format!("'{}' is not extensionAttribute1 to 15", ward_core::validate::clip(name)),
                        ));
                    }
                    if !(value.is_null() || value.as_str().is_some_and(|s| s.chars().count() <= 1024)) {
                        return Err(invalid("extensionAttributes", "each value is a string of at most 1024 characters, or null"));
                    }
                    target[name] = value.clone();
                }
                continue;
            }
            _ => return Err(invalid("device", format!("'{k}' has the wrong type or value"))),
        }
        doc.insert(k.clone(), v.clone());
    }
    Ok(())
}

impl Directory {
    /// Graph's `POST /devices`: `deviceId` and `displayName` required, and the device's key.
    /// `manager` is the app registering it, when it may manage devices: it becomes the device's
    /// `mdmAppId`.
    pub async fn create_device(&self, tenant: TenantId, body: &Map<String, Value>, manager: Option<Uuid>) -> Result<Value> {
        let device_id: Uuid = body
            .get("deviceId")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("deviceId", "is required: the device's own GUID"))?;
        if body.get("displayName").and_then(Value::as_str).is_none_or(|n| n.trim().is_empty()) {
            return Err(invalid("displayName", "is required"));
        }
        device_key(&Value::Object(body.clone()))?;
        if self.store.count_objects(tenant, ObjectKind::Device, false).await? >= MAX_DEVICES {
            return Err(invalid("deviceId", format!("a tenant has at most {MAX_DEVICES} devices")));
        }
        let id = self.new_id();
        let now = self.clock.now().format(&Rfc3339).unwrap_or_default();
        let mut doc = Map::new();
        for (k, v) in [
            ("id", json!(id)),
            ("deviceId", json!(device_id)),
            ("accountEnabled", json!(true)),
            ("displayName", Value::Null),
            ("operatingSystem", Value::Null),
            ("operatingSystemVersion", Value::Null),
            ("manufacturer", Value::Null),
            ("model", Value::Null),
            ("isCompliant", Value::Null),
            ("isManaged", Value::Null),
            ("mdmAppId", Value::Null),
            ("trustType", json!("Workplace")),
            ("profileType", json!("RegisteredDevice")),
            ("deviceOwnership", json!("unknown")),
            ("enrollmentProfileName", Value::Null),
            ("physicalIds", json!([])),
            ("systemLabels", json!([])),
            ("extensionAttributes", json!({})),
            ("registrationDateTime", json!(now)),
            ("approximateLastSignInDateTime", Value::Null),
        ] {
            doc.insert(k.into(), v);
        }
        let mut fields = body.clone();
        fields.retain(|k, _| !matches!(k.as_str(), "deviceId" | "alternativeSecurityIds" | "id"));
        let compliance = COMPLIANCE.iter().any(|c| fields.contains_key(*c));
        if compliance && manager.is_none() {
            return Err(DirectoryError::Forbidden("only a device management app may set isCompliant or isManaged".into()));
        }
        apply(&mut doc, &fields)?;
        // A management app that registers a device manages it: no other app may take it over.
        if let Some(m) = manager {
            doc.insert("mdmAppId".into(), json!(m));
        }
        doc.insert(
            "alternativeSecurityIds".into(),
            json!([{ "type": 2, "identityProvider": null, "key": body["alternativeSecurityIds"][0]["key"] }]),
        );
        let op = WriteOp::Insert {
            kind: ObjectKind::Device,
            id,
            unique_key: Some(format!("deviceid:{device_id}")),
            doc: Value::Object(doc.clone()),
        };
        self.commit_store(tenant, vec![op]).await.map_err(|e| match e {
            ward_core::store::StoreError::UniqueViolation(_) => {
                invalid("deviceId", format!("a device with deviceId {device_id} is already registered"))
            }
            other => other.into(),
        })?;
        Ok(Value::Object(doc))
    }

    pub async fn device(&self, tenant: TenantId, id: ObjectId) -> Result<Value> {
        Ok(self.load::<Value>(tenant, ObjectKind::Device, id).await?.0)
    }

    /// The device registered with `device_id` (the device's own GUID), if any.
    pub async fn device_by_device_id(&self, tenant: TenantId, device_id: Uuid) -> Result<Option<Value>> {
        Ok(self.store.object_by_key(tenant, ObjectKind::Device, &format!("deviceid:{device_id}")).await?.map(|o| o.doc))
    }

    /// A page of devices in id order, after `after`.
    pub async fn devices(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<Value>> {
        let page = self.store.objects(tenant, ObjectKind::Device, &ward_core::store::ListQuery { deleted: false, after, limit }).await?;
        Ok(page.into_iter().map(|o| o.doc).collect())
    }

    /// Graph's `PATCH /devices/{id}`: only by `manager`, the device's management app (its
    /// `mdmAppId`); `trustType` does not change after registration.
    pub async fn update_device(&self, tenant: TenantId, id: ObjectId, patch: &Map<String, Value>, manager: Option<Uuid>) -> Result<()> {
        let (doc, stored) = self.load::<Value>(tenant, ObjectKind::Device, id).await?;
        let Value::Object(mut doc) = doc else { return Err(DirectoryError::Internal("a stored device is not an object".into())) };
        managed_by(&Value::Object(doc.clone()), manager)?;
        if manager.is_some() && doc.get("mdmAppId").is_none_or(Value::is_null) {
            doc.insert("mdmAppId".into(), json!(manager));
        }
        if patch.get("trustType").is_some_and(|t| Some(t) != doc.get("trustType")) {
            return Err(invalid("trustType", "is set when the device is registered and does not change"));
        }
        apply(&mut doc, patch)?;
        // The deviceId never changes, and its key stays the device's.
        let unique_key = doc.get("deviceId").and_then(Value::as_str).map(|d| format!("deviceid:{d}"));
        let op = WriteOp::Update { kind: ObjectKind::Device, id, unique_key, doc: Value::Object(doc), expected_version: stored.version };
        self.commit(tenant, vec![op]).await?;
        Ok(())
    }

    pub async fn delete_device(&self, tenant: TenantId, id: ObjectId, manager: Option<Uuid>) -> Result<()> {
        let (doc, _) = self.load::<Value>(tenant, ObjectKind::Device, id).await?;
        managed_by(&doc, manager)?;
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::Device, id }]).await?;
        Ok(())
    }
}

/// Is `manager` the app managing the device (its `mdmAppId`)? Every property a policy reads
/// (compliance, trust type, extension attributes, operating system, enabled) is its to change, and
/// removing the device too; a device no app manages yet may be taken by a management app.
fn managed_by(doc: &Value, manager: Option<Uuid>) -> Result<()> {
    let current: Option<Uuid> = doc.get("mdmAppId").and_then(Value::as_str).and_then(|s| s.parse().ok());
    match (manager, current) {
        (None, _) => Err(DirectoryError::Forbidden("only a device management app may change a device".into())),
        (Some(m), Some(c)) if m != c => Err(DirectoryError::Forbidden("the device is managed by another management app".into())),
        _ => Ok(()),
    }
}

/// The device's registered public key (JWK), from its stored document.
pub fn registered_key(doc: &Value) -> Option<Value> {
    device_key(doc).ok()
}
