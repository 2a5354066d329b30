//! OAuth 2.0 grants, one file each, reading like their RFC sections.

pub mod client_credentials;
pub mod device;
pub mod obo;
pub mod user;
