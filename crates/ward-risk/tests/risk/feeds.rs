//! CIDR feeds: boundaries, overlapping and adjacent ranges, IPv6 and IPv4-mapped addresses,
//! parsing, and agreement with a naive scan over random sets.

use crate::*;
use ipnet::IpNet;

#[test]
fn boundaries_are_inclusive_and_neighbours_are_outside() {
    let set = CidrSet::parse("203.0.113.0/24\n2001:db8::/48\n").unwrap();
    for inside in ["203.0.113.0", "203.0.113.255", "2001:db8::", "2001:db8:0:ffff:ffff:ffff:ffff:ffff"] {
        assert!(set.contains(ip(inside)), "{inside}");
    }
    for outside in ["203.0.112.255", "203.0.114.0", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::"] {
        assert!(!set.contains(ip(outside)), "{outside}");
    }
}

#[test]
fn overlapping_and_adjacent_ranges_merge_into_one() {
    let adjacent = CidrSet::parse("10.0.0.0/25\n10.0.0.128/25\n10.0.1.0/24\n").unwrap();
    assert_eq!(adjacent.range_count(), 1);
    assert!(adjacent.contains(ip("10.0.0.127")) && adjacent.contains(ip("10.0.0.128")) && adjacent.contains(ip("10.0.1.255")));
    assert!(!adjacent.contains(ip("10.0.2.0")));

    let nested = CidrSet::parse("10.0.0.0/16\n10.0.5.0/24\n10.0.5.7\n").unwrap();
    assert_eq!(nested.range_count(), 1);

    let apart = CidrSet::parse("10.0.0.0/24\n10.0.2.0/24\n").unwrap();
    assert_eq!(apart.range_count(), 2);
    assert!(!apart.contains(ip("10.0.1.1")), "the gap between two ranges stays outside");

    let v6 = CidrSet::parse("2001:db8::/33\n2001:db8:8000::/33\n").unwrap();
    assert_eq!(v6.range_count(), 1);
}

#[test]
fn the_ends_of_the_address_spaces_do_not_overflow() {
    let set = CidrSet::parse("255.255.255.0/24\n0.0.0.0/8\nffff::/16\n").unwrap();
    assert!(set.contains(ip("255.255.255.255")) && set.contains(ip("0.0.0.0")));
    assert!(set.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    let everything = CidrSet::parse("0.0.0.0/0").unwrap();
    assert!(everything.contains(ip("198.51.100.1")));
    assert!(!everything.contains(ip("2001:db8::1")), "an IPv4 feed says nothing about IPv6");
}

#[test]
fn ipv4_mapped_addresses_are_their_ipv4_addresses_both_ways() {
    let v4_feed = CidrSet::parse("203.0.113.0/24").unwrap();
    assert!(v4_feed.contains(ip("::ffff:203.0.113.5")));
    assert!(!v4_feed.contains(ip("::ffff:203.0.114.5")));
    // A feed written in mapped form covers the plain IPv4 addresses.
    let mapped_feed = CidrSet::parse("::ffff:198.51.100.0/120").unwrap();
    assert!(mapped_feed.contains(ip("198.51.100.7")));
    assert!(mapped_feed.contains(ip("::ffff:198.51.100.7")));
    assert!(!mapped_feed.contains(ip("198.51.101.7")));
    // An IPv6 range that spans the whole mapped block covers all of IPv4.
    assert!(CidrSet::parse("::/0").unwrap().contains(ip("8.8.8.8")));
}

#[test]
fn feed_files_allow_comments_and_bare_addresses_and_report_the_bad_line() {
    let text = "# Tor exits\n\n185.220.101.1\n1.10.16.0/20 ; SBL256894\n2a0b:f4c0::/32   # a v6 block\n";
    let set = CidrSet::parse(text).unwrap();
    assert!(set.contains(ip("185.220.101.1")) && !set.contains(ip("185.220.101.2")));
    assert!(set.contains(ip("1.10.31.255")) && set.contains(ip("2a0b:f4c0::1")));
    assert_eq!(CidrSet::parse("10.0.0.1/8").unwrap(), CidrSet::parse("10.0.0.0/8").unwrap(), "host bits are ignored");

    let err = CidrSet::parse("10.0.0.0/8\n# fine\n10.0.0.0/33\n").unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(err.text, "10.0.0.0/33");
    assert_eq!(err.code(), "invalidAddressFeed");
    assert_eq!(CidrSet::parse("example.com").unwrap_err().line, 1);
    assert!(CidrSet::parse("").unwrap().is_empty());
}

#[test]
fn look_ups_agree_with_a_scan_over_random_sets() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..20 {
        let nets: Vec<IpNet> = (0..60)
            .map(|_| {
                if rng.below(3) == 0 {
                    let addr =
                        std::net::Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | (u128::from(rng.next_u64() as u32) << 64));
                    IpNet::new(addr.into(), 32 + rng.below(33) as u8).unwrap().trunc()
                } else {
                    // Addresses in 10/8 so that ranges collide often.
                    let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (rng.next_u64() as u32 & 0x00ff_ffff));
                    IpNet::new(addr.into(), 12 + rng.below(21) as u8).unwrap().trunc()
                }
            })
            .collect();
        let set = CidrSet::from_networks(nets.clone());
        for _ in 0..500 {
            let probe: std::net::IpAddr = if rng.below(3) == 0 {
                std::net::Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | (u128::from(rng.next_u64() as u32) << 64)).into()
            } else {
                std::net::Ipv4Addr::from(0x0a00_0000 | (rng.next_u64() as u32 & 0x00ff_ffff)).into()
            };
            let expected = nets.iter().any(|n| n.contains(&probe));
            assert_eq!(set.contains(probe), expected, "round {round}, {probe}");
        }
    }
}
