//! The administrator's address feeds (anonymizers, known-malicious addresses) as sets of CIDRs
//! with a fast membership test, and the bundle of feeds the real-time detectors read. Loading and
//! reloading the files is the caller's; this module parses their text and answers look-ups.

use crate::leaked::LeakedPasswords;
use ipnet::IpNet;
use std::net::IpAddr;
use thiserror::Error;

/// A line of a feed that is not an address or a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: '{text}' is not an IP address or CIDR")]
pub struct FeedError {
    /// 1-based.
    pub line: usize,
    /// The offending text, clipped to 64 characters.
    pub text: String,
}

impl FeedError {
    /// A stable code for logs and the admin API.
    pub fn code(&self) -> &'static str {
        "invalidAddressFeed"
    }
}

/// A set of IPv4 and IPv6 ranges, merged and sorted so that a look-up is one binary search
/// (O(log n), no allocation). IPv4 ranges are kept as `u32` and IPv6 as `u128`, so a large IPv4
/// feed costs 8 bytes a range. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is looked up as
/// the IPv4 address, and an IPv6 range that covers part of the mapped block also covers the
/// IPv4 addresses it maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// `::ffff:0.0.0.0` to `::ffff:255.255.255.255`.
const MAPPED_FIRST: u128 = 0xffff_0000_0000;
const MAPPED_LAST: u128 = 0xffff_ffff_ffff;

impl CidrSet {
    /// The set of the given networks (host bits are ignored: `10.0.0.1/8` is `10.0.0.0/8`).
    pub fn from_networks<I: IntoIterator<Item = IpNet>>(networks: I) -> CidrSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in networks {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => {
                    let (first, last) = (u128::from(n.network()), u128::from(n.broadcast()));
                    v6.push((first, last));
                    let (lo, hi) = (first.max(MAPPED_FIRST), last.min(MAPPED_LAST));
                    if lo <= hi {
                        v4.push(((lo - MAPPED_FIRST) as u32, (hi - MAPPED_FIRST) as u32));
                    }
                }
            }
        }
        CidrSet { v4: merge(v4), v6: merge(v6) }
    }

    /// Parses a feed: one address or CIDR a line; blank lines and comments (from `#` or `;` to
    /// the end of the line, as in Spamhaus DROP) are skipped. A bare address is a /32 or /128.
    pub fn parse(text: &str) -> Result<CidrSet, FeedError> {
        let mut networks = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let content = raw.split(['#', ';']).next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let net = content.parse::<IpNet>().or_else(|_| content.parse::<IpAddr>().map(IpNet::from));
            match net {
                Ok(n) => networks.push(n),
                Err(_) => return Err(FeedError { line: i + 1, text: content.chars().take(64).collect() }),
            }
        }
        Ok(CidrSet::from_networks(networks))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match canonical(addr) {
            IpAddr::V4(a) => covered(&self.v4, u32::from(a)),
            IpAddr::V6(a) => covered(&self.v6, u128::from(a)),
        }
    }

    /// How many disjoint ranges the set holds after merging.
    pub fn range_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps; anything else unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(a),
        },
        v4 => v4,
    }
}

/// Sorts ranges and joins the overlapping and the adjacent ones.
fn merge<T: Ord + Copy + Successor>(mut spans: Vec<(T, T)>) -> Vec<(T, T)> {
    spans.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(spans.len());
    for (lo, hi) in spans {
        match merged.last_mut() {
            Some(last) if lo <= last.1.successor() => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged.shrink_to_fit();
    merged
}

fn covered<T: Ord + Copy>(spans: &[(T, T)], x: T) -> bool {
    let k = spans.partition_point(|(lo, _)| *lo <= x);
    k > 0 && spans[k - 1].1 >= x
}

/// The next integer, saturating at the top of the address space.
trait Successor {
    fn successor(self) -> Self;
}
impl Successor for u32 {
    fn successor(self) -> u32 {
        self.saturating_add(1)
    }
}
impl Successor for u128 {
    fn successor(self) -> u128 {
        self.saturating_add(1)
    }
}

/// What the real-time detectors consult besides the user's profile. The caller builds it from
/// the administrator's files and swaps it whole when they change.
#[derive(Clone, Debug, Default)]
pub struct Feeds {
    /// Anonymizers: Tor exits, anonymizing VPNs and proxies (`anonymizedIPAddress`).
    pub anonymous_ips: CidrSet,
    /// Known-malicious addresses (`maliciousIPAddress`).
    pub malicious_ips: CidrSet,
    /// Shared with whoever else checks new passwords against the same file.
    pub leaked_passwords: std::sync::Arc<LeakedPasswords>,
}

impl Feeds {
    /// Feeds that flag nothing.
    pub fn empty() -> Feeds {
        Feeds::default()
    }
}
