//! A small MaxMind DB (format 2.0) writer that builds test fixtures for [`crate::geoip`]: the
//! binary search tree with 32-bit records, the 16-byte separator, the data section and the
//! metadata map, as the MaxMind DB File Format Specification 2.0 lays them out.
//!
//! Overlapping networks: the longest prefix wins whatever the order of insertion, and of two
//! entries for the same network the later wins. So a more specific network inserted after a
//! less specific one overrides it for its range, and a less specific one inserted after leaves
//! the more specific ones inside it alone (it only fills the rest of its range).
//!
//! Identical data records are written once. Nothing here is meant for production databases: it
//! writes no IPv4 aliases (`::ffff:0:0/96`, `2002::/16`), no pointers and `build_epoch` 0.

use std::collections::HashMap;

use ipnet::IpNet;
use serde_json::Value;

/// Bits in a search-tree record: two big-endian `u32` a node, the simplest of the spec's sizes.
pub const RECORD_SIZE: u16 = 32;

/// Spec §"Database Metadata": the marker that starts the metadata section.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";
/// Spec §"Data Section Separator": 16 zero bytes between the tree and the data.
const SEPARATOR_LEN: u32 = 16;

// Spec §"Output Data Section": the type numbers; 8 and above are "extended" types.
const TYPE_STRING: u8 = 2;
const TYPE_DOUBLE: u8 = 3;
const TYPE_UINT16: u8 = 5;
const TYPE_UINT32: u8 = 6;
const TYPE_MAP: u8 = 7;
const TYPE_UINT64: u8 = 9;
const TYPE_ARRAY: u8 = 11;
const TYPE_BOOLEAN: u8 = 14;

/// One record of a search-tree node.
#[derive(Clone, Copy)]
enum Slot {
    Empty,
    Node(usize),
    /// `entry` indexes the caller's entries; `prefix` is the length of the network that put it
    /// here, so that a later, less specific network knows not to overwrite it.
    Data {
        entry: usize,
        prefix: u8,
    },
}

/// Writes a MaxMind DB file holding `entries`. Host bits of a network are ignored. For
/// `ip_version` 6, an IPv4 network `a.b.c.d/n` is stored as `::a.b.c.d/(96 + n)`, where
/// readers look IPv4 addresses up.
///
/// # Panics
/// On an `ip_version` other than 4 or 6, an IPv6 network in an IPv4 database, a JSON `null`
/// (the format has no null), or a fixture too large for 32-bit records: this is test tooling.
pub fn write(database_type: &str, ip_version: u16, entries: &[(IpNet, Value)]) -> Vec<u8> {
    let width: u8 = match ip_version {
        4 => 32,
        6 => 128,
        other => panic!("ip_version must be 4 or 6, not {other}"),
    };
    let mut nodes: Vec<[Slot; 2]> = vec![[Slot::Empty, Slot::Empty]];
    for (entry, (net, _)) in entries.iter().enumerate() {
        let (bits, prefix) = match (net.trunc(), width) {
            (IpNet::V4(v4), _) => (u128::from(u32::from(v4.addr())), v4.prefix_len() + width - 32),
            (IpNet::V6(v6), 128) => (u128::from(v6.addr()), v6.prefix_len()),
            (IpNet::V6(v6), _) => panic!("{v6} cannot go in an IPv4 database"),
        };
        insert(&mut nodes, bits, width, prefix, entry);
    }

    let node_count = u32::try_from(nodes.len()).expect("too many nodes");
    let mut tree = Vec::with_capacity(nodes.len() * 8);
    let mut data = Vec::new();
    let mut offset_of_entry: Vec<Option<u32>> = vec![None; entries.len()];
    let mut offset_of_bytes: HashMap<Vec<u8>, u32> = HashMap::new();
    for slot in nodes.iter().flatten() {
        let record = match *slot {
            Slot::Empty => node_count,
            Slot::Node(child) => child as u32,
            Slot::Data { entry, .. } => {
                let offset = *offset_of_entry[entry].get_or_insert_with(|| {
                    let mut bytes = Vec::new();
                    encode(&entries[entry].1, &mut bytes);
                    *offset_of_bytes.entry(bytes).or_insert_with_key(|bytes| {
                        let at = u32::try_from(data.len()).expect("data section too large");
                        data.extend_from_slice(bytes);
                        at
                    })
                });
                node_count.checked_add(SEPARATOR_LEN).and_then(|base| base.checked_add(offset)).expect("fixture too large")
            }
        };
        tree.extend_from_slice(&record.to_be_bytes());
    }

    let mut out = tree;
    out.extend_from_slice(&[0; SEPARATOR_LEN as usize]);
    out.extend_from_slice(&data);
    out.extend_from_slice(METADATA_MARKER);
    write_metadata(&mut out, database_type, ip_version, node_count);
    out
}

/// The bit of `bits` at `depth`, counting from the most significant of `width` bits.
fn bit_at(bits: u128, width: u8, depth: u8) -> usize {
    ((bits >> (width - 1 - depth)) & 1) as usize
}

fn insert(nodes: &mut Vec<[Slot; 2]>, bits: u128, width: u8, prefix: u8, entry: usize) {
    // The root is a node, never a record: a /0 network is its two halves.
    if prefix == 0 {
        assign(nodes, 0, 0, entry, 0);
        assign(nodes, 0, 1, entry, 0);
        return;
    }
    let mut node = 0;
    for depth in 0..prefix - 1 {
        let bit = bit_at(bits, width, depth);
        node = match nodes[node][bit] {
            Slot::Node(next) => next,
            // Split the record: both halves keep what covered the whole (data or nothing).
            covering => {
                let next = nodes.len();
                nodes.push([covering, covering]);
                nodes[node][bit] = Slot::Node(next);
                next
            }
        };
    }
    assign(nodes, node, bit_at(bits, width, prefix - 1), entry, prefix);
}

/// Puts `entry` in a record and every record below it, except where a longer prefix is.
fn assign(nodes: &mut [[Slot; 2]], node: usize, bit: usize, entry: usize, prefix: u8) {
    match nodes[node][bit] {
        Slot::Node(child) => {
            assign(nodes, child, 0, entry, prefix);
            assign(nodes, child, 1, entry, prefix);
        }
        Slot::Data { prefix: existing, .. } if existing > prefix => {}
        Slot::Empty | Slot::Data { .. } => nodes[node][bit] = Slot::Data { entry, prefix },
    }
}

/// Spec §"Output Data Section": the control byte, the extended type byte, then the size bytes.
fn header(out: &mut Vec<u8>, type_number: u8, size: usize) {
    let (first, extended) = if type_number > 7 { (0, Some(type_number - 7)) } else { (type_number << 5, None) };
    let (low, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => {
            let rest = u32::try_from(size - 65_821).ok().filter(|rest| *rest < 1 << 24).expect("value too large");
            (31, rest.to_be_bytes()[1..].to_vec())
        }
    };
    out.push(first | low);
    out.extend(extended);
    out.extend_from_slice(&extra);
}

/// Unsigned integers are big-endian without leading zero bytes (0 has no bytes at all).
fn unsigned(out: &mut Vec<u8>, type_number: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = (value.leading_zeros() / 8) as usize;
    header(out, type_number, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn string(out: &mut Vec<u8>, text: &str) {
    header(out, TYPE_STRING, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// JSON numbers: non-negative integers become uint32 (uint64 past `u32::MAX`), others double.
fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => panic!("the MaxMind DB format has no null"),
        Value::Bool(b) => header(out, TYPE_BOOLEAN, usize::from(*b)),
        Value::Number(n) => match n.as_u64() {
            Some(small) if small <= u64::from(u32::MAX) => unsigned(out, TYPE_UINT32, small),
            Some(large) => unsigned(out, TYPE_UINT64, large),
            None => {
                header(out, TYPE_DOUBLE, 8);
                out.extend_from_slice(&n.as_f64().expect("a JSON number is an f64").to_be_bytes());
            }
        },
        Value::String(text) => string(out, text),
        Value::Array(items) => {
            header(out, TYPE_ARRAY, items.len());
            items.iter().for_each(|item| encode(item, out));
        }
        Value::Object(map) => {
            header(out, TYPE_MAP, map.len());
            for (key, item) in map {
                string(out, key);
                encode(item, out);
            }
        }
    }
}

/// Spec §"Database Metadata": the fields a reader requires, with their specified types.
fn write_metadata(out: &mut Vec<u8>, database_type: &str, ip_version: u16, node_count: u32) {
    header(out, TYPE_MAP, 9);
    string(out, "binary_format_major_version");
    unsigned(out, TYPE_UINT16, 2);
    string(out, "binary_format_minor_version");
    unsigned(out, TYPE_UINT16, 0);
    string(out, "build_epoch");
    unsigned(out, TYPE_UINT64, 0);
    string(out, "database_type");
    string(out, database_type);
    string(out, "description");
    header(out, TYPE_MAP, 1);
    string(out, "en");
    string(out, "Ward test fixture");
    string(out, "ip_version");
    unsigned(out, TYPE_UINT16, u64::from(ip_version));
    string(out, "languages");
    header(out, TYPE_ARRAY, 1);
    string(out, "en");
    string(out, "node_count");
    unsigned(out, TYPE_UINT32, u64::from(node_count));
    string(out, "record_size");
    unsigned(out, TYPE_UINT16, u64::from(RECORD_SIZE));
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::Reader;
    use serde_json::json;
    use std::net::IpAddr;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    /// The record for `address`, as maxminddb reads it, or `None` when it has none.
    fn read(db: &[u8], address: &str) -> Option<Value> {
        let reader = Reader::from_source(db).unwrap();
        reader.lookup(address.parse::<IpAddr>().unwrap()).unwrap().decode::<Value>().unwrap()
    }

    #[test]
    fn maxminddb_verifies_and_reads_the_metadata() {
        for ip_version in [4, 6] {
            let entries = [(net("192.0.2.0/24"), json!({ "a": 1 })), (net("198.51.100.7/32"), json!({ "a": 1 }))];
            let db = write("Test-Type", ip_version, &entries);
            let reader = Reader::from_source(db.as_slice()).unwrap();
            reader.verify().unwrap();
            let metadata = reader.metadata();
            assert_eq!((metadata.database_type.as_str(), metadata.ip_version, metadata.record_size), ("Test-Type", ip_version, 32));
            assert_eq!((metadata.binary_format_major_version, metadata.binary_format_minor_version), (2, 0));
            assert_eq!(metadata.languages, ["en"]);
            // Identical records are stored once: the data section is one map, {"a": 1}, of
            // 5 bytes (map header, 2-byte key, uint32 header and 1 byte).
            let data_len = find_marker(&db) - metadata.node_count as usize * 8 - 16;
            assert_eq!(data_len, 5);
        }
    }

    fn find_marker(db: &[u8]) -> usize {
        db.windows(METADATA_MARKER.len()).rposition(|w| w == METADATA_MARKER).unwrap()
    }

    #[test]
    fn every_json_type_round_trips() {
        let long = |n: usize| "x".repeat(n);
        let record = json!({
            "text": "Zürich", "empty": "", "zero": 0, "small": 7, "u32": 4_294_967_295_u64, "u64": 4_294_967_296_u64,
            "max": u64::MAX, "negative": -3.5, "whole_negative": -2.0, "real": 0.25, "yes": true, "no": false,
            "array": [1, "two", [3.5], {}], "nested": { "deeper": { "names": { "en": "x" } } },
            "s28": long(28), "s29": long(29), "s284": long(284), "s285": long(285), "s65821": long(65_821), "s70000": long(70_000),
            "many": (0..300).collect::<Vec<_>>(),
        });
        let db = write("Types", 6, &[(net("2001:db8::/32"), record.clone())]);
        Reader::from_source(db.as_slice()).unwrap().verify().unwrap();
        assert_eq!(read(&db, "2001:db8::1"), Some(record));
    }

    #[test]
    fn ipv4_networks_sit_under_the_ipv4_subtree_of_an_ipv6_database() {
        let db = write("Mixed", 6, &[(net("192.0.2.0/24"), json!("v4")), (net("2001:db8::/32"), json!("v6"))]);
        assert_eq!(read(&db, "192.0.2.9"), Some(json!("v4")));
        assert_eq!(read(&db, "::192.0.2.9"), Some(json!("v4")));
        assert_eq!(read(&db, "2001:db8::9"), Some(json!("v6")));
        assert_eq!(read(&db, "192.0.3.9"), None);
        let reader = Reader::from_source(db.as_slice()).unwrap();
        let found = reader.lookup("192.0.2.9".parse().unwrap()).unwrap();
        assert_eq!(found.network().unwrap().to_string(), "192.0.2.0/24");
    }

    #[test]
    fn longest_prefix_wins_whatever_the_order() {
        let wide = (net("10.0.0.0/8"), json!("wide"));
        let narrow = (net("10.1.0.0/16"), json!("narrow"));
        let host = (net("10.1.2.3/32"), json!("host"));
        for entries in [[wide.clone(), narrow.clone(), host.clone()], [host.clone(), narrow.clone(), wide.clone()], [narrow, wide, host]] {
            let db = write("Order", 4, &entries);
            Reader::from_source(db.as_slice()).unwrap().verify().unwrap();
            assert_eq!(read(&db, "10.1.2.3"), Some(json!("host")));
            assert_eq!(read(&db, "10.1.2.4"), Some(json!("narrow")));
            assert_eq!(read(&db, "10.200.0.1"), Some(json!("wide")));
            assert_eq!(read(&db, "11.0.0.1"), None);
        }
    }

    #[test]
    fn the_same_network_twice_keeps_the_later_and_host_bits_are_ignored() {
        let db = write("Twice", 4, &[(net("10.0.0.0/8"), json!(1)), (net("10.9.9.9/8"), json!(2))]);
        assert_eq!(read(&db, "10.0.0.1"), Some(json!(2)));
    }

    #[test]
    fn whole_address_space_and_empty_databases() {
        let db = write("Default", 6, &[(net("::/0"), json!("anywhere")), (net("2001:db8::/32"), json!("doc"))]);
        assert_eq!(read(&db, "8.8.8.8"), Some(json!("anywhere")));
        assert_eq!(read(&db, "2001:db8::1"), Some(json!("doc")));
        assert_eq!(read(&db, "2002::1"), Some(json!("anywhere")));
        let db = write("Default", 4, &[(net("0.0.0.0/0"), json!("anywhere"))]);
        assert_eq!(read(&db, "255.255.255.255"), Some(json!("anywhere")));
        for ip_version in [4, 6] {
            let empty = write("Empty", ip_version, &[]);
            Reader::from_source(empty.as_slice()).unwrap().verify().unwrap();
            assert_eq!(read(&empty, "192.0.2.1"), None);
        }
    }
}
