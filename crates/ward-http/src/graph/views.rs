//! Directory objects as Graph shows them: every Graph property present (null when unset), the
//! default set unless `$select` names others, internal fields never.

use serde_json::{Map, Value, json};
use ward_core::ObjectKind;
use ward_core::group::Group;
use ward_core::user::User;
use ward_directory::DirectoryObject;
use ward_odata::Resource;

/// Kept in the stored user but not Graph properties.
const USER_INTERNAL: [&str; 4] = ["managerId", "forceChangePasswordNextSignIn", "externalId", "scim"];
/// Kept in the stored group but not Graph properties.
const GROUP_INTERNAL: [&str; 1] = ["externalId"];

/// Every Graph property of a user Ward knows, by its Graph name.
pub fn user(u: &User) -> Map<String, Value> {
    let mut m = match serde_json::to_value(u) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for k in USER_INTERNAL {
        m.remove(k);
    }
    fill(&mut m, &ward_odata::USER);
    m
}

pub fn group(g: &Group) -> Map<String, Value> {
    let mut m = match serde_json::to_value(g) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for k in GROUP_INTERNAL {
        m.remove(k);
    }
    fill(&mut m, &ward_odata::GROUP);
    m
}

/// Properties of the schema the object does not carry come back as null (or `[]`).
fn fill(m: &mut Map<String, Value>, resource: &Resource) {
    for p in resource.properties {
        m.entry(p.name).or_insert_with(|| if p.collection { json!([]) } else { Value::Null });
    }
}

/// The selected properties (or the resource's default set), `id` first.
pub fn project(full: Map<String, Value>, resource: &Resource, select: Option<&[&'static str]>) -> Map<String, Value> {
    let default;
    let names: &[&str] = match select {
        Some(s) => s,
        None => {
            default = resource.default_select();
            &default
        }
    };
    let mut full = full;
    let mut out = Map::new();
    for name in names {
        let v = full.remove(*name).unwrap_or(Value::Null);
        out.insert((*name).to_string(), v);
    }
    out
}

/// A member of a heterogeneous list (`members`, `memberOf`): its `@odata.type` and its type's
/// default properties.
pub fn directory_object(o: &DirectoryObject) -> Map<String, Value> {
    let (odata_type, view) = match o.kind {
        ObjectKind::User => match serde_json::from_value::<User>(o.doc.clone()) {
            Ok(u) => ("#microsoft.graph.user", project(user(&u), &ward_odata::USER, None)),
            Err(_) => ("#microsoft.graph.user", Map::new()),
        },
        ObjectKind::Group => match serde_json::from_value::<Group>(o.doc.clone()) {
            Ok(g) => ("#microsoft.graph.group", project(group(&g), &ward_odata::GROUP, None)),
            Err(_) => ("#microsoft.graph.group", Map::new()),
        },
        ObjectKind::ServicePrincipal => {
            let mut m = Map::new();
            for k in ["id", "appId", "displayName", "accountEnabled"] {
                m.insert(k.into(), o.doc.get(k).cloned().unwrap_or(Value::Null));
            }
            ("#microsoft.graph.servicePrincipal", m)
        }
        _ => ("#microsoft.graph.directoryObject", Map::new()),
    };
    let mut out = Map::new();
    out.insert("@odata.type".into(), json!(odata_type));
    out.insert("id".into(), json!(o.id.to_string()));
    for (k, v) in view {
        out.entry(k).or_insert(v);
    }
    out
}
