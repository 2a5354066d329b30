//! `POST /Bulk` (RFC 7644 §3.7): operations run in an order where each comes after those whose
//! `bulkId` it references; each is the same write a single request makes (one unit of work, so
//! a failed operation leaves nothing half-applied); `failOnErrors` stops after that many errors.

use super::users::read_body;
use super::{Family, Scim, error_response, resource_response};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use ward_core::ObjectId;
use ward_scim::{BulkMethod, BulkOperation, BulkOperationResult, BulkRequest, ScimError};

pub async fn bulk(scim: Scim, body: Body) -> Response {
    match run(&scim, body).await {
        Ok(v) => resource_response(StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}

async fn run(scim: &Scim, body: Body) -> Result<Value, ScimError> {
    // Authenticated already; the permission is checked per operation by what it touches.
    if let super::Principal::App(_) = &scim.principal
        && scim.require(Family::Users, false).is_err()
        && scim.require(Family::Groups, false).is_err()
    {
        return Err(ScimError::new(403, None, "the application has no SCIM permission"));
    }
    let request = BulkRequest::parse(&read_body(body).await?, super::BULK_MAX_OPERATIONS)?;
    let plan = ward_scim::execution_order(&request);
    let mut results: Vec<Option<BulkOperationResult>> = vec![None; request.operations.len()];
    for (index, error) in &plan.unresolvable {
        results[*index] = Some(BulkOperationResult::failure(&request.operations[*index], None, error));
    }
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut errors = plan.unresolvable.len() as u64;
    let limit = request.fail_on_errors;
    for &index in &plan.order {
        if limit.is_some_and(|n| errors >= n) {
            break;
        }
        let mut op = request.operations[index].clone();
        let outcome = match ward_scim::resolve_bulk_ids(&mut op, &resolved) {
            Ok(()) => execute(scim, &op).await,
            Err(e) => Err(e),
        };
        results[index] = Some(match outcome {
            Ok((status, resource)) => {
                let location = resource.as_ref().and_then(|r| r.pointer("/meta/location")).and_then(Value::as_str).map(str::to_string);
                let version = resource.as_ref().and_then(|r| r.pointer("/meta/version")).and_then(Value::as_str).map(str::to_string);
                if let (Some(bulk_id), Some(id)) = (&op.bulk_id, resource.as_ref().and_then(|r| r.get("id")).and_then(Value::as_str)) {
                    resolved.insert(bulk_id.clone(), id.to_string());
                }
                BulkOperationResult::success(&op, status, location, version)
            }
            Err(e) => {
                errors += 1;
                let location = op.resource_id.as_ref().map(|id| format!("{}{}/{}", scim.base, op.endpoint, id));
                BulkOperationResult::failure(&op, location, &e)
            }
        });
    }
    // Operations not run (failOnErrors reached) are left out of the response (RFC 7644 §3.7.3).
    let done: Vec<BulkOperationResult> = results.into_iter().flatten().collect();
    Ok(ward_scim::bulk_response(&done))
}

/// One operation, as its single request would run it: its status and the resource after.
async fn execute(scim: &Scim, op: &BulkOperation) -> Result<(u16, Option<Value>), ScimError> {
    let empty = Value::Object(Default::default());
    let data = op.data.as_ref().unwrap_or(&empty);
    let id = || -> Result<ObjectId, ScimError> {
        let raw = op
            .resource_id
            .as_deref()
            .ok_or_else(|| ScimError::invalid_path(format!("{} needs a resource id in its path", op.method.as_str())))?;
        super::users::resource_id(raw)
    };
    let version = op.version.as_deref();
    match (op.endpoint.as_str(), op.method) {
        ("/Users", BulkMethod::Post) => {
            let (u, v) = super::users::create_op(scim, data).await?;
            Ok((201, Some(super::users::written(scim, &u, v))))
        }
        ("/Users", BulkMethod::Put) => {
            let (u, v) = super::users::replace_op(scim, id()?, data, version).await?;
            Ok((200, Some(super::users::written(scim, &u, v))))
        }
        ("/Users", BulkMethod::Patch) => {
            let (u, v) = super::users::patch_op(scim, id()?, data, version).await?;
            Ok((200, Some(super::users::written(scim, &u, v))))
        }
        ("/Users", BulkMethod::Delete) => {
            super::users::delete_op(scim, id()?, version).await?;
            Ok((204, None))
        }
        ("/Groups", BulkMethod::Post) => {
            let (g, _) = super::groups::create_op(scim, data).await?;
            Ok((201, Some(super::groups::written(scim, g.id).await?)))
        }
        ("/Groups", BulkMethod::Put) => {
            let id = id()?;
            super::groups::replace_op(scim, id, data, version).await?;
            Ok((200, Some(super::groups::written(scim, id).await?)))
        }
        ("/Groups", BulkMethod::Patch) => {
            let id = id()?;
            super::groups::patch_op(scim, id, data, version).await?;
            Ok((200, Some(super::groups::written(scim, id).await?)))
        }
        ("/Groups", BulkMethod::Delete) => {
            super::groups::delete_op(scim, id()?, version).await?;
            Ok((204, None))
        }
        (other, _) => {
            Err(ScimError::invalid_path(format!("Bulk cannot address '{}'; use /Users or /Groups", ward_core::validate::clip(other))))
        }
    }
}
