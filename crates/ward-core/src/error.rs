//! The directory's typed errors and the one table of stable public codes they map to.
//!
//! Every surface (Graph, SCIM, CLI) renders these codes in its own envelope; clients branch on
//! the code, never on the message.

use crate::ids::ObjectKind;

/// Stable public error codes. Never renumber or rename: scripts and clients match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidValue,
    UnverifiedDomain,
    DuplicateUserPrincipalName,
    DuplicateDomain,
    NotFound,
    AlreadyMember,
    NotMember,
    MembershipCycle,
    ResultSizeLimitExceeded,
    RestoreWindowExpired,
    NotDeleted,
    AlreadyInitialized,
    Conflict,
    StorageUnavailable,
    Internal,
    Forbidden,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidValue,
        ErrorCode::UnverifiedDomain,
        ErrorCode::DuplicateUserPrincipalName,
        ErrorCode::DuplicateDomain,
        ErrorCode::NotFound,
        ErrorCode::AlreadyMember,
        ErrorCode::NotMember,
        ErrorCode::MembershipCycle,
        ErrorCode::ResultSizeLimitExceeded,
        ErrorCode::RestoreWindowExpired,
        ErrorCode::NotDeleted,
        ErrorCode::AlreadyInitialized,
        ErrorCode::Conflict,
        ErrorCode::StorageUnavailable,
        ErrorCode::Internal,
        ErrorCode::Forbidden,
    ];

    /// Ward's own code, used by the CLI, logs and the admin portal.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::UnverifiedDomain => "unverified_domain",
            ErrorCode::DuplicateUserPrincipalName => "duplicate_user_principal_name",
            ErrorCode::DuplicateDomain => "duplicate_domain",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyMember => "already_member",
            ErrorCode::NotMember => "not_member",
            ErrorCode::MembershipCycle => "membership_cycle",
            ErrorCode::ResultSizeLimitExceeded => "result_size_limit_exceeded",
            ErrorCode::RestoreWindowExpired => "restore_window_expired",
            ErrorCode::NotDeleted => "not_deleted",
            ErrorCode::AlreadyInitialized => "already_initialized",
            ErrorCode::Conflict => "conflict",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
        }
    }

    /// The code Microsoft Graph uses for the same condition (`error.code` in its envelope).
    pub fn graph_code(self) -> &'static str {
        match self {
            // Removing a reference that is not there: Graph answers 404, as for a missing object.
            ErrorCode::NotFound | ErrorCode::NotMember => "Request_ResourceNotFound",
            ErrorCode::ResultSizeLimitExceeded => "Directory_ResultSizeLimitExceeded",
            ErrorCode::StorageUnavailable => "serviceNotAvailable",
            ErrorCode::Internal => "generalException",
            ErrorCode::Conflict => "resourceModified",
            ErrorCode::Forbidden => "Authorization_RequestDenied",
            _ => "Request_BadRequest",
        }
    }

    /// The HTTP status Graph answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::NotFound | ErrorCode::NotMember => 404,
            ErrorCode::Conflict | ErrorCode::AlreadyInitialized => 409,
            ErrorCode::StorageUnavailable => 503,
            ErrorCode::Internal => 500,
            ErrorCode::Forbidden => 403,
            // Graph answers duplicates, existing members and cycles with 400 Request_BadRequest.
            _ => 400,
        }
    }
}

/// Everything that can go wrong in a directory operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DirectoryError {
    #[error("Invalid value for property '{field}': {message}")]
    Invalid { field: &'static str, message: String },
    #[error("The domain portion of the userPrincipalName property is invalid: '{0}' is not a verified domain of this tenant.")]
    UnverifiedDomain(String),
    #[error("Another object with the same value for property userPrincipalName already exists.")]
    DuplicateUserPrincipalName,
    #[error("The domain '{0}' is already in use by a tenant.")]
    DuplicateDomain(String),
    #[error("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")]
    NotFound { kind: Option<ObjectKind>, id: String },
    #[error("One or more added object references already exist for the following modified properties: '{relation}'.")]
    AlreadyMember { relation: &'static str },
    #[error("'{member}' is not in the {relation} of '{of}'.")]
    NotMember { relation: &'static str, member: String, of: String },
    #[error("Adding '{member}' to group '{group}' would create a membership cycle.")]
    MembershipCycle { group: String, member: String },
    #[error("The results would exceed the maximum of {limit} objects. Use transitiveMemberOf instead.")]
    ResultSizeLimitExceeded { limit: usize },
    #[error("The object '{0}' was deleted more than 30 days ago and can no longer be restored.")]
    RestoreWindowExpired(String),
    #[error("The object '{0}' is not in deleted items.")]
    NotDeleted(String),
    #[error("This store is already initialized (tenant {0}); nothing was changed.")]
    AlreadyInitialized(String),
    #[error("The object was changed by another request; retry.")]
    Conflict,
    #[error("The directory store is unavailable: {0}")]
    StorageUnavailable(String),
    #[error("Internal error: {0}")]
    Internal(String),
    /// The caller may do this kind of operation, but not to this object.
    #[error("Insufficient privileges to complete the operation: {0}.")]
    Forbidden(String),
}

impl DirectoryError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DirectoryError::Invalid { field, message: message.into() }
    }

    pub fn not_found(kind: ObjectKind, id: impl ToString) -> Self {
        DirectoryError::NotFound { kind: Some(kind), id: id.to_string() }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            DirectoryError::Invalid { .. } => ErrorCode::InvalidValue,
            DirectoryError::UnverifiedDomain(_) => ErrorCode::UnverifiedDomain,
            DirectoryError::DuplicateUserPrincipalName => ErrorCode::DuplicateUserPrincipalName,
            DirectoryError::DuplicateDomain(_) => ErrorCode::DuplicateDomain,
            DirectoryError::NotFound { .. } => ErrorCode::NotFound,
            DirectoryError::AlreadyMember { .. } => ErrorCode::AlreadyMember,
            DirectoryError::NotMember { .. } => ErrorCode::NotMember,
            DirectoryError::MembershipCycle { .. } => ErrorCode::MembershipCycle,
            DirectoryError::ResultSizeLimitExceeded { .. } => ErrorCode::ResultSizeLimitExceeded,
            DirectoryError::RestoreWindowExpired(_) => ErrorCode::RestoreWindowExpired,
            DirectoryError::NotDeleted(_) => ErrorCode::NotDeleted,
            DirectoryError::AlreadyInitialized(_) => ErrorCode::AlreadyInitialized,
            DirectoryError::Conflict => ErrorCode::Conflict,
            DirectoryError::StorageUnavailable(_) => ErrorCode::StorageUnavailable,
            DirectoryError::Internal(_) => ErrorCode::Internal,
            DirectoryError::Forbidden(_) => ErrorCode::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_codes_are_unique() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn size_limit_maps_to_graphs_code() {
        let e = DirectoryError::ResultSizeLimitExceeded { limit: 11_000 };
        assert_eq!(e.code().graph_code(), "Directory_ResultSizeLimitExceeded");
        assert_eq!(e.code().http_status(), 400);
        assert_eq!(DirectoryError::not_found(ObjectKind::User, "x").code().http_status(), 404);
    }
}
