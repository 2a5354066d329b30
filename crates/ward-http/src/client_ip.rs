//! The client-IP extractor: the request's peer address, corrected by `Forwarded` /
//! `X-Forwarded-For` only when the peer is a trusted proxy (`--trusted-proxy`). The rule itself is
//! `ward_core::net::client_ip`; this is the one place HTTP feeds it.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Joins every instance of a header, as a proxy chain may send several.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The TCP peer: from the listener, or in process tests from axum's `MockConnectInfo`.
pub fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| extensions.get::<axum::extract::connect_info::MockConnectInfo<SocketAddr>>().map(|m| m.0.ip()))
}

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let forwarded = joined(headers, "forwarded");
    let xff = joined(headers, "x-forwarded-for");
    ward_core::net::client_ip(peer, forwarded.as_deref(), xff.as_deref(), trusted)
}

/// The trusted-proxy list, reachable from any state that carries it.
#[derive(Clone)]
pub struct TrustedProxies(pub Arc<Vec<IpNet>>);

impl FromRef<AppState> for TrustedProxies {
    fn from_ref(state: &AppState) -> Self {
        TrustedProxies(state.trusted_proxies.clone())
    }
}

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    TrustedProxies: FromRef<S>,
{
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Every listener Ward runs provides the peer address; its absence is a wiring bug.
        let peer = peer(&parts.extensions).ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
        let trusted = TrustedProxies::from_ref(state);
        Ok(ClientIp(resolve(peer, &parts.headers, &trusted.0)))
    }
}
