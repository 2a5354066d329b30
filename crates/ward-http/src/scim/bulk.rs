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

/// An operation's status and the resource after it (none for a DELETE), or its error.
type Outcome = Result<(u16, Option<Value>), ScimError>;

pub async fn bulk(scim: Scim, body: Body) -> Response {
    // Authenticated already; the permission is checked per operation by what it touches.
    if let super::Principal::App(_) = &scim.principal
        && scim.require(Family::Users, false).is_err()
        && scim.require(Family::Groups, false).is_err()
    {
        return error_response(&ScimError::new(403, None, "the application has no SCIM permission"));
    }
    let request = match read_body(body).await.and_then(|b| BulkRequest::parse(&b, super::BULK_MAX_OPERATIONS)) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    // Each password is an Argon2id hash (about 20 ms of a core, shared with sign-ins): at most
    // MAX_PASSWORDS a request, each paid for. Counted generously: any mention of "password".
    let passwords = request
        .operations
        .iter()
        .filter(|op| op.data.as_ref().is_some_and(|d| d.to_string().to_ascii_lowercase().contains("\"password\"")))
        .count();
    if passwords > MAX_PASSWORDS {
        return error_response(&ScimError::too_many(format!("at most {MAX_PASSWORDS} operations of a Bulk request may set a password")));
    }
    // The request paid 1; each 50 operations cost one more, each password one more.
    if let Err(wait) = scim.throttle((request.operations.len() / 50 + passwords) as u32) {
        return super::too_many(wait, "too many requests from this caller");
    }
    resource_response(StatusCode::OK, &run(&scim, request).await)
}

async fn run(scim: &Scim, request: BulkRequest) -> Value {
    let plan = ward_scim::execution_order(&request);
    let mut results: Vec<Option<BulkOperationResult>> = vec![None; request.operations.len()];
    for (index, error) in &plan.unresolvable {
        results[*index] = Some(BulkOperationResult::failure(&request.operations[*index], None, error));
    }
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut errors = plan.unresolvable.len() as u64;
    let limit = request.fail_on_errors;
    let mut at = 0;
    while at < plan.order.len() {
        if limit.is_some_and(|n| errors >= n) {
            break;
        }
        // A run of user creates that reference nothing is one unit of work (each its own
        // record); without failOnErrors, where the order of failures decides what runs.
        let run: Vec<usize> = plan.order[at..]
            .iter()
            .copied()
            .take_while(|&i| limit.is_none() && is_plain_user_create(&request.operations[i]))
            .take(TOGETHER)
            .collect();
        if run.len() > 1 && scim.require(Family::Users, true).is_ok() {
            at += run.len();
            if let Some(batch) = create_users_together(scim, &request.operations, &run).await {
                for (index, outcome) in run.into_iter().zip(batch) {
                    let op = &request.operations[index];
                    results[index] = Some(settle(scim, op, outcome, &mut resolved, &mut errors));
                }
                continue;
            }
            // The commit was refused (a userName taken): one by one, to say which.
            for index in run {
                let op = &request.operations[index];
                let outcome = execute(scim, op).await;
                results[index] = Some(settle(scim, op, outcome, &mut resolved, &mut errors));
            }
            continue;
        }
        let index = plan.order[at];
        at += 1;
        let mut op = request.operations[index].clone();
        let outcome = match ward_scim::resolve_bulk_ids(&mut op, &resolved) {
            Ok(()) => execute(scim, &op).await,
            Err(e) => Err(e),
        };
        results[index] = Some(settle(scim, &op, outcome, &mut resolved, &mut errors));
    }
    // Operations not run (failOnErrors reached) are left out of the response (RFC 7644 §3.7.3).
    let done: Vec<BulkOperationResult> = results.into_iter().flatten().collect();
    ward_scim::bulk_response(&done)
}

/// The operation's result; a created resource's id is what its bulkId stands for from now on.
fn settle(
    scim: &Scim,
    op: &BulkOperation,
    outcome: Outcome,
    resolved: &mut HashMap<String, String>,
    errors: &mut u64,
) -> BulkOperationResult {
    match outcome {
        Ok((status, resource)) => {
            // RFC 7644 §3.7: `location` in every result but a failed POST (a DELETE's too).
            let location = resource
                .as_ref()
                .and_then(|r| r.pointer("/meta/location"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| op.resource_id.as_ref().map(|id| format!("{}{}/{}", scim.base, op.endpoint, id)));
            let version = resource.as_ref().and_then(|r| r.pointer("/meta/version")).and_then(Value::as_str).map(str::to_string);
            if let (Some(bulk_id), Some(id)) = (&op.bulk_id, resource.as_ref().and_then(|r| r.get("id")).and_then(Value::as_str)) {
                resolved.insert(bulk_id.clone(), id.to_string());
            }
            BulkOperationResult::success(op, status, location, version)
        }
        Err(e) => {
            *errors += 1;
            let location = op.resource_id.as_ref().map(|id| format!("{}{}/{}", scim.base, op.endpoint, id));
            BulkOperationResult::failure(op, location, &e)
        }
    }
}

fn is_plain_user_create(op: &BulkOperation) -> bool {
    op.endpoint == "/Users" && op.method == BulkMethod::Post && ward_scim::bulk_id_references(op).is_empty()
}

/// At most this many operations of one Bulk request may set a password.
const MAX_PASSWORDS: usize = 100;

/// At most this many creates in one unit of work: the writer's turn is not held for long.
const TOGETHER: usize = 100;

/// Creates the users of `run` in one unit of work; `None` when the commit was refused because
/// a `userName` is taken (by another user or twice in the run). Any other failure of the commit
/// fails every create of the run, with the request id: what happened to it is the store's to say.
async fn create_users_together(scim: &Scim, ops: &[BulkOperation], run: &[usize]) -> Option<Vec<Outcome>> {
    let empty = Value::Object(Default::default());
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(run.len());
    let mut items = Vec::new();
    for &index in run {
        match super::users::prepare_create(scim, ops[index].data.as_ref().unwrap_or(&empty)) {
            Ok(item) => {
                items.push(item);
                outcomes.push(None);
            }
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    let ctx = scim.audit_context(super::users::ADD);
    let created = match scim.state.directory.create_users_batch(scim.tenant.id, items, &ctx).await {
        Ok(created) => created,
        Err(ward_core::DirectoryError::DuplicateUserPrincipalName) => return None,
        Err(e) => {
            let error = super::directory_error(&e, &scim.rid);
            return Some(outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(error.clone()))).collect());
        }
    };
    let mut created = created.into_iter();
    Some(
        outcomes
            .into_iter()
            .map(|o| match o {
                Some(failed) => failed,
                None => match created.next() {
                    Some(Ok(user)) => Ok((201, Some(super::users::written(scim, &user, 1)))),
                    Some(Err(e)) => Err(super::directory_error(&e, &scim.rid)),
                    None => Err(ScimError::new(500, None, "a create went missing")),
                },
            })
            .collect(),
    )
}

/// One operation, as its single request would run it: its status and the resource after.
async fn execute(scim: &Scim, op: &BulkOperation) -> Outcome {
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
