//! A per-client-IP token bucket in front of the endpoints that check secrets or passwords (token,
//! device code, introspection, revocation, sign-in forms). Node-local: it blunts floods and
//! online guessing from one address; lockout (per account) is the sign-in service's.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Token buckets by key: `rate` tokens a second, up to `burst`. Node-local.
pub struct TokenBuckets<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

const MAX_TRACKED: usize = 100_000;

impl<K: std::hash::Hash + Eq> TokenBuckets<K> {
    /// A rate of 0 turns the buckets off.
    pub fn new(rate: f64, burst: f64) -> Self {
        TokenBuckets { rate, burst, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `cost` tokens for `key`; `Err(seconds)` to wait when there are not enough.
    pub fn take(&self, key: K, cost: f64, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, (tokens, at)| *tokens < self.burst && now.duration_since(*at).as_secs_f64() * self.rate < self.burst);
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= cost {
            *tokens -= cost;
            Ok(())
        } else {
            Err(((cost - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Per client address: the limit in front of the endpoints that check secrets and passwords.
pub struct RateLimiter(TokenBuckets<IpAddr>);

impl RateLimiter {
    /// `rate` requests per second per address, with bursts of twice that. 0 disables.
    pub fn new(rate: u32) -> RateLimiter {
        RateLimiter(TokenBuckets::new(f64::from(rate), f64::from(rate) * 2.0))
    }

    /// Takes one token for `ip`; `Err(seconds)` to wait when the bucket is empty.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        // One IPv6 client usually holds a whole /64: count it as one address.
        let ip = match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            other => other,
        };
        self.0.take(ip, 1.0, now)
    }
}

/// The route templates behind the limit: those that check passwords, secrets or guessable codes,
/// and `authorize` (it may scan registrations for an identifier URI).
pub fn is_limited(method: &axum::http::Method, route: &str) -> bool {
    matches!(
        route,
        "/{tenant}/oauth2/v2.0/token"
            | "/{tenant}/login"
            | "/{tenant}/login/otp"
            | "/{tenant}/login/passkey"
            | "/{tenant}/login/passkey/options"
            | "/{tenant}/mysecurityinfo/passkey/options"
            | "/{tenant}/changepassword"
            | "/{tenant}/oauth2/v2.0/introspect"
            | "/{tenant}/oauth2/v2.0/revoke"
            | "/{tenant}/oauth2/v2.0/devicecode"
            | "/{tenant}/oauth2/v2.0/authorize"
    ) || (route == "/{tenant}/oauth2/deviceauth" && method == axum::http::Method::POST)
}

/// The answer when an address is over its limit.
pub fn too_many(ip: IpAddr, wait: u64) -> Response {
    tracing::warn!(client_ip = %ip, "rate limited");
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": format!("AADSTS50196: Too many requests from this address. Retry after {wait} seconds."),
    });
    let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_endpoint_that_checks_a_credential_is_limited() {
        use axum::http::Method;
        for route in [
            "/{tenant}/login",
            "/{tenant}/login/otp",
            "/{tenant}/login/passkey",
            "/{tenant}/login/passkey/options",
            "/{tenant}/oauth2/v2.0/token",
        ] {
            assert!(super::is_limited(&Method::POST, route), "{route}");
        }
        assert!(super::is_limited(&Method::POST, "/{tenant}/oauth2/deviceauth"));
        assert!(!super::is_limited(&Method::GET, "/{tenant}/oauth2/deviceauth"));
        assert!(!super::is_limited(&Method::GET, "/static/passkey.js"));
    }

    #[test]
    fn buckets_refill_at_the_rate_and_stop_at_the_burst() {
        let l = RateLimiter::new(10);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..20 {
            l.take(a, t0).unwrap();
        }
        assert_eq!(l.take(a, t0), Err(1), "burst of 20 spent");
        l.take(b, t0).unwrap();
        l.take(a, t0 + Duration::from_millis(100)).unwrap();
        assert!(l.take(a, t0 + Duration::from_millis(100)).is_err());
        // Addresses of one IPv6 /64 share a bucket.
        let l6 = RateLimiter::new(1);
        l6.take("2001:db8::1".parse().unwrap(), t0).unwrap();
        l6.take("2001:db8::2".parse().unwrap(), t0).unwrap();
        assert!(l6.take("2001:db8::ffff".parse().unwrap(), t0).is_err());
        l6.take("2001:db8:0:1::1".parse().unwrap(), t0).unwrap();
        let off = RateLimiter::new(0);
        for _ in 0..1000 {
            off.take(a, t0).unwrap();
        }
    }
}
