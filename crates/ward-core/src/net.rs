//! The client IP: the one rule that decides which address a request came from.
//!
//! `X-Forwarded-For` and `Forwarded` (RFC 7239) are believed only when the peer that sent them is a
//! trusted proxy, and only as far back as the chain stays inside trusted proxies: the answer is the
//! first address, walking from the right, that is not a trusted proxy. Risk detection, lockout and
//! conditional access all rely on this, so a spoofed header from an untrusted peer changes nothing.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Resolves the client address for a request from `peer` carrying the given header values.
pub fn client_ip(peer: IpAddr, forwarded: Option<&str>, x_forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // RFC 7239 wins when present: it is the standard form and harder to confuse.
    let hops: Vec<Option<IpAddr>> = match forwarded.filter(|v| !v.trim().is_empty()) {
        Some(value) => forwarded_for_values(value).map(|v| parse_node(&v)).collect(),
        None => match x_forwarded_for {
            Some(value) => value.split(',').map(|v| parse_node(v.trim())).collect(),
            None => return peer,
        },
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            // An unparseable or obfuscated hop ends the chain: the last trusted hop is all we know.
            None => return client,
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    return client;
                }
            }
        }
    }
    client
}

/// The `for=` parameters of a `Forwarded` header, in order.
fn forwarded_for_values(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').filter_map(|element| {
        element.split(';').find_map(|pair| {
            let (key, val) = pair.trim().split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then(|| val.trim().trim_matches('"').to_string())
        })
    })
}

/// Parses `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = node.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("203.0.113.9"), Some("for=1.1.1.1"), Some("1.1.1.1"), &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("203.0.113.9"), None, Some("1.1.1.1"), &[]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_is_believed_one_hop_back() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.5"), None, Some("198.51.100.7"), &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn a_spoofed_leftmost_entry_is_not_the_client() {
        // The client sent "X-Forwarded-For: 1.1.1.1"; the trusted proxy appended the real address.
        let trusted = nets(&["10.0.0.0/8"]);
        let got = client_ip(ip("10.0.0.5"), None, Some("1.1.1.1, 198.51.100.7"), &trusted);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.0/24"]);
        let got = client_ip(ip("10.0.0.5"), None, Some("198.51.100.7, 192.0.2.1"), &trusted);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn rfc7239_forwarded_wins_and_handles_ports_and_ipv6() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = client_ip(ip("10.0.0.5"), Some(r#"for="[2001:db8::7]:4711";proto=https"#), Some("1.1.1.1"), &trusted);
        assert_eq!(got, ip("2001:db8::7"));
        let got = client_ip(ip("10.0.0.5"), Some("for=192.0.2.60:8080, for=198.51.100.17"), None, &trusted);
        assert_eq!(got, ip("198.51.100.17"));
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.5"), Some("for=unknown"), None, &trusted), ip("10.0.0.5"));
        assert_eq!(client_ip(ip("10.0.0.5"), None, Some("1.1.1.1, not-an-ip"), &trusted), ip("10.0.0.5"));
        assert_eq!(client_ip(ip("10.0.0.5"), None, Some("10.0.0.9"), &trusted), ip("10.0.0.9"));
    }
}
