//! The client's IP address behind reverse proxies.
//!
//! Rampart keys per-client decisions (rate limits, session and log records) on the client's IP.
//! Behind a load balancer the socket peer is the proxy, so the real client appears only in the
//! `X-Forwarded-For` header, which each proxy extends by appending the address it received the
//! connection from. Any client can send that header too.
//!
//! **Threat:** a client that writes its own `X-Forwarded-For` chooses its key. If the header were
//! believed unconditionally (or its left-most entry were taken), an attacker could send a fresh
//! random address with every request and walk around every per-IP limit, or impersonate another
//! client's address in the logs.
//!
//! **Rule** ([`client_ip`]): the client is the socket peer, unless the peer is one of the
//! configured [`TrustedProxies`]. Only then is `X-Forwarded-For` read, right to left, and only as
//! far as trusted proxies vouch for it: the first entry that is not itself a trusted proxy is the
//! client. Entries to the left of it were written by that (untrusted) client and are ignored. A
//! malformed entry stops the walk at the nearest trusted hop, since nothing to its left can be
//! trusted. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are treated as the IPv4 address
//! everywhere, so a dual-stack listener cannot be used to dodge an IPv4 rule.
//!
//! Work is capped: at most [`MAX_FORWARDED_ENTRIES`] entries are examined, and header values
//! longer than [`MAX_FORWARDED_BYTES`] in total are not read at all (treated as malformed).
//!
//! ```
//! use std::net::IpAddr;
//! use rampart_core::net::{TrustedProxies, client_ip};
//!
//! let trusted = TrustedProxies::parse(&["10.0.0.0/8".to_owned()]).unwrap();
//! let ip = |s: &str| s.parse::<IpAddr>().unwrap();
//!
//! // Through the load balancer at 10.0.0.5: the address it appended is the client.
//! assert_eq!(
//!     client_ip(ip("10.0.0.5"), &["6.6.6.6, 198.51.100.9"], &trusted),
//!     ip("198.51.100.9")
//! );
//! // Straight from the internet: the header is the client's own claim and is ignored.
//! assert_eq!(
//!     client_ip(ip("203.0.113.7"), &["1.2.3.4"], &trusted),
//!     ip("203.0.113.7")
//! );
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// At most this many `X-Forwarded-For` entries (the right-most ones) are examined.
pub const MAX_FORWARDED_ENTRIES: usize = 32;

/// `X-Forwarded-For` values longer than this in total (joined with `,`) are not read.
pub const MAX_FORWARDED_BYTES: usize = 8 * 1024;

/// The networks whose `X-Forwarded-For` entries are believed: the reverse proxies in front of
/// the server. Empty (the default) trusts no one, so the socket peer is always the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Normalized: host bits cleared, IPv4-mapped IPv6 networks stored as IPv4.
    nets: Vec<IpNet>,
}

/// `::ffff:0:0/96`, the IPv4-mapped IPv6 addresses.
fn mapped_space() -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; every other address unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        IpAddr::V4(_) => ip,
    }
}

impl TrustedProxies {
    /// Parses each entry as an IP address (one host) or a CIDR network (`10.0.0.0/8`,
    /// `fd00::/8`). Surrounding whitespace is ignored; host bits in a network are cleared. An
    /// IPv6 network inside `::ffff:0:0/96` is stored as the IPv4 network it maps, and one that
    /// covers the whole mapped space (`::/0`, `::/80`, ...) also covers all of IPv4. The error
    /// names the first entry that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let text = entry.trim();
            let net = if text.contains('/') {
                text.parse::<IpNet>().ok()
            } else {
                text.parse::<IpAddr>().ok().map(IpNet::from)
            };
            let Some(net) = net else {
                return Err(format!(
                    "{entry:?} is not an IP address or CIDR network (like 10.0.0.0/8)"
                ));
            };
            match net.trunc() {
                IpNet::V6(v6) if mapped_space().contains(&v6) => {
                    let v4 = v6
                        .network()
                        .to_ipv4_mapped()
                        .unwrap_or(Ipv4Addr::UNSPECIFIED);
                    nets.push(IpNet::V4(Ipv4Net::new_assert(v4, v6.prefix_len() - 96)));
                }
                IpNet::V6(v6) if v6.contains(&mapped_space()) => {
                    nets.push(IpNet::V6(v6));
                    nets.push(IpNet::V4(Ipv4Net::default()));
                }
                net => nets.push(net),
            }
        }
        Ok(Self { nets })
    }

    /// Whether `ip` (IPv4-mapped addresses as IPv4) lies in a trusted network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether an entry is `0.0.0.0/0` or `::/0` (or another IPv6 network containing all of
    /// `::ffff:0:0/96`, which covers every IPv4 address): every peer may then claim any address,
    /// which makes `X-Forwarded-For` a free choice of key for every client.
    pub fn trusts_everyone(&self) -> bool {
        self.nets.iter().any(|net| net.prefix_len() == 0)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// One `X-Forwarded-For` entry: `ip`, `ipv4:port`, `[ipv6]` or `[ipv6]:port`, surrounding
/// whitespace ignored. `None` for anything else (empty, `unknown`, a zone id, a bad port, ...).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !after.is_empty() {
            parse_port(after.strip_prefix(':')?)?;
        }
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = entry.split_once(':')?;
        parse_port(port)?;
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(canonical(ip))
}

fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

/// The client's IP: `peer` (the socket peer), unless `peer` is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself trusted.
///
/// `forwarded_for` holds the raw header values in the order received; they are read as one
/// comma-separated list. Right to left, trusted entries are skipped (a chain of proxies); the
/// first untrusted one is the client. A malformed or empty entry stops the walk and the last
/// trusted hop seen is returned (the nearest proxy that vouched; the peer if none): nothing to
/// the left of garbage is believed. If every examined entry is trusted, the left-most one is
/// returned. At most [`MAX_FORWARDED_ENTRIES`] entries are examined, and values longer than
/// [`MAX_FORWARDED_BYTES`] in total count as malformed. IPv4-mapped IPv6 addresses are returned
/// as IPv4.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let joined_len = forwarded_for.iter().map(|v| v.len()).sum::<usize>()
        + forwarded_for.len().saturating_sub(1);
    if joined_len > MAX_FORWARDED_BYTES {
        return peer;
    }
    let mut last_trusted = peer;
    let entries = forwarded_for
        .iter()
        .rev()
        .flat_map(|value| value.rsplit(','))
        .take(MAX_FORWARDED_ENTRIES);
    for entry in entries {
        let Some(ip) = parse_entry(entry) else {
            return last_trusted;
        };
        if !trusted.contains(ip) {
            return ip;
        }
        last_trusted = ip;
    }
    last_trusted
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        TrustedProxies::parse(&entries).unwrap()
    }

    #[test]
    fn parse_accepts_addresses_and_networks() {
        let t = trusted(&[
            "10.0.0.0/8",
            " 192.168.1.1 ",
            "fd00::/8",
            "2001:db8::1",
            "172.16.5.4/12",
        ]);
        assert!(t.contains(ip("10.255.0.1")));
        assert!(t.contains(ip("192.168.1.1")));
        assert!(!t.contains(ip("192.168.1.2")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("2001:db8::1")));
        assert!(!t.contains(ip("2001:db8::2")));
        // Host bits are cleared: 172.16.5.4/12 is 172.16.0.0/12.
        assert!(t.contains(ip("172.31.255.255")));
        assert!(!t.contains(ip("172.32.0.0")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(!t.is_empty());
        assert!(!t.trusts_everyone());
        assert!(TrustedProxies::parse(&[]).unwrap().is_empty());
        assert!(TrustedProxies::default().is_empty());
    }

    #[test]
    fn parse_names_the_bad_entry() {
        for bad in [
            "",
            " ",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0",
            "localhost",
            "10.0.0.0/8/8",
            "10.0.0.1:80",
            "*",
            "fe80::1%eth0",
            "10.0.0.0/",
        ] {
            let entries = vec!["10.0.0.0/8".to_owned(), bad.to_owned()];
            let err = TrustedProxies::parse(&entries).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
    }

    #[test]
    fn mapped_addresses_are_ipv4_in_the_list() {
        // A mapped entry trusts the IPv4 address, and vice versa.
        let t = trusted(&["::ffff:10.0.0.0/104", "::ffff:192.0.2.1"]);
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(t.contains(ip("192.0.2.1")));
        assert!(!t.contains(ip("192.0.2.2")));
        let t = trusted(&["10.0.0.0/8"]);
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(!t.contains(ip("::ffff:11.1.2.3")));
        // ::/0 contains the mapped space, hence every IPv4 address.
        let t = trusted(&["::/0"]);
        assert!(t.contains(ip("203.0.113.7")));
        assert!(t.contains(ip("2001:db8::1")));
    }

    #[test]
    fn trusting_everyone_is_detected() {
        for all in [
            &["0.0.0.0/0"][..],
            &["::/0"],
            &["10.0.0.0/8", "0.0.0.0/0"],
            &["::ffff:0:0/96"],
            &[" 1.2.3.4/0 "],
            // These contain every IPv4-mapped address, hence every IPv4 client.
            &["::/1"],
            &["::/80"],
        ] {
            assert!(trusted(all).trusts_everyone(), "{all:?}");
        }
        for some in [
            &["0.0.0.0/1"][..],
            &["8000::/1"],
            &["::/81"],
            &["10.0.0.0/8"],
            &[],
        ] {
            assert!(!trusted(some).trusts_everyone(), "{some:?}");
        }
    }

    #[test]
    fn entries() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1.2.3.4", Some("1.2.3.4")),
            ("  1.2.3.4\t", Some("1.2.3.4")),
            ("1.2.3.4:8080", Some("1.2.3.4")),
            ("1.2.3.4:0", Some("1.2.3.4")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("::ffff:1.2.3.4", Some("1.2.3.4")),
            ("[::ffff:1.2.3.4]:80", Some("1.2.3.4")),
            ("", None),
            ("   ", None),
            ("unknown", None),
            ("_hidden", None),
            ("1.2.3", None),
            ("1.2.3.4.5", None),
            ("01.2.3.4", None),
            ("256.1.1.1", None),
            ("1.2.3.4:", None),
            ("1.2.3.4:65536", None),
            ("1.2.3.4:+80", None),
            ("1.2.3.4:80:80", None),
            ("1.2.3.4 5.6.7.8", None),
            ("[1.2.3.4]", None),
            ("[2001:db8::1", None),
            ("[2001:db8::1]443", None),
            ("[2001:db8::1]:", None),
            ("[2001:db8::1]:99999", None),
            ("2001:db8::1:443x", None),
            ("fe80::1%eth0", None),
            ("[fe80::1%25eth0]", None),
            ("host.example", None),
            ("\"1.2.3.4\"", None),
        ];
        for (entry, want) in cases {
            assert_eq!(parse_entry(entry), want.map(ip), "{entry:?}");
        }
    }

    /// Each row: peer, `X-Forwarded-For` values in order received, expected client.
    type Row = (&'static str, &'static [&'static str], &'static str);

    fn check(trusted: &TrustedProxies, rows: &[Row]) {
        for (peer, xff, want) in rows {
            assert_eq!(
                client_ip(ip(peer), xff, trusted),
                ip(want),
                "peer {peer}, X-Forwarded-For {xff:?}, trusted {trusted:?}"
            );
        }
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_send() {
        let rows: &[Row] = &[
            ("203.0.113.7", &["1.2.3.4"], "203.0.113.7"),
            // A trusted-looking address in the header changes nothing.
            ("203.0.113.7", &["10.9.9.9"], "203.0.113.7"),
            ("203.0.113.7", &["1.2.3.4", "10.9.9.9"], "203.0.113.7"),
            ("203.0.113.7", &["garbage"], "203.0.113.7"),
            ("203.0.113.7", &[], "203.0.113.7"),
            ("2001:db8::7", &["1.2.3.4"], "2001:db8::7"),
            ("::ffff:203.0.113.7", &["1.2.3.4"], "203.0.113.7"),
        ];
        check(&trusted(&["10.0.0.0/8", "fd00::/8"]), rows);
        check(&TrustedProxies::default(), rows);
        // With nothing trusted, even a private peer is its own client.
        check(
            &TrustedProxies::default(),
            &[("10.1.2.3", &["198.51.100.9"], "10.1.2.3")],
        );
    }

    #[test]
    fn trusted_peers_and_proxy_chains() {
        check(
            &trusted(&["10.0.0.0/8", "fd00::/8"]),
            &[
                // One hop.
                ("10.1.2.3", &["198.51.100.9"], "198.51.100.9"),
                ("10.1.2.3", &["  198.51.100.9\t"], "198.51.100.9"),
                ("::ffff:10.1.2.3", &["198.51.100.9"], "198.51.100.9"),
                ("fd00::1", &["198.51.100.9"], "198.51.100.9"),
                // No header, or an empty one: the peer.
                ("10.1.2.3", &[], "10.1.2.3"),
                ("10.1.2.3", &[""], "10.1.2.3"),
                // The client's own claims, left of the address the proxy appended, are ignored.
                ("10.1.2.3", &["6.6.6.6, 198.51.100.9"], "198.51.100.9"),
                ("10.1.2.3", &["10.7.7.7, 198.51.100.9"], "198.51.100.9"),
                // Chains of trusted proxies are skipped.
                (
                    "10.1.2.3",
                    &["6.6.6.6, 198.51.100.9, 10.9.9.9"],
                    "198.51.100.9",
                ),
                (
                    "10.1.2.3",
                    &["6.6.6.6,198.51.100.9,10.9.9.9,10.8.8.8"],
                    "198.51.100.9",
                ),
                ("10.1.2.3", &["198.51.100.9, [fd00::5]:80"], "198.51.100.9"),
                (
                    "10.1.2.3",
                    &["198.51.100.9, ::ffff:10.9.9.9"],
                    "198.51.100.9",
                ),
                // Every entry trusted: the left-most.
                ("10.1.2.3", &["10.9.9.9"], "10.9.9.9"),
                ("10.1.2.3", &["10.3.3.3, 10.2.2.2"], "10.3.3.3"),
                ("10.1.2.3", &["[::ffff:10.9.9.9]:80"], "10.9.9.9"),
            ],
        );
    }

    #[test]
    fn nothing_left_of_garbage_is_believed() {
        check(
            &trusted(&["10.0.0.0/8"]),
            &[
                // Garbage beyond the client is never reached.
                ("10.1.2.3", &["garbage, 198.51.100.9"], "198.51.100.9"),
                ("10.1.2.3", &["garbage", "198.51.100.9"], "198.51.100.9"),
                // Garbage right of the client: the nearest trusted hop that vouched.
                ("10.1.2.3", &["198.51.100.9, garbage"], "10.1.2.3"),
                ("10.1.2.3", &["198.51.100.9, garbage, 10.9.9.9"], "10.9.9.9"),
                ("10.1.2.3", &["198.51.100.9, , 10.9.9.9"], "10.9.9.9"),
                ("10.1.2.3", &["198.51.100.9,"], "10.1.2.3"),
                ("10.1.2.3", &["198.51.100.9, unknown"], "10.1.2.3"),
                ("10.1.2.3", &["198.51.100.9, _hidden"], "10.1.2.3"),
                ("10.1.2.3", &["198.51.100.9", "garbage"], "10.1.2.3"),
                ("10.1.2.3", &["198.51.100.9", ""], "10.1.2.3"),
                ("10.1.2.3", &["garbage"], "10.1.2.3"),
            ],
        );
    }

    #[test]
    fn ipv6_mapped_addresses_and_ports() {
        check(
            &trusted(&["10.0.0.0/8", "fd00::/8"]),
            &[
                ("10.1.2.3", &["2001:db8::9"], "2001:db8::9"),
                ("10.1.2.3", &["[2001:db8::9]"], "2001:db8::9"),
                ("10.1.2.3", &["[2001:db8::9]:4711"], "2001:db8::9"),
                ("10.1.2.3", &["198.51.100.9:4711"], "198.51.100.9"),
                ("10.1.2.3", &["::ffff:198.51.100.9"], "198.51.100.9"),
                ("10.1.2.3", &["[::ffff:198.51.100.9]:1"], "198.51.100.9"),
                ("fd00::1", &["2001:db8::9, fd00::2"], "2001:db8::9"),
                // A mapped spelling of a trusted address is trusted, of an untrusted one not.
                ("::ffff:10.1.2.3", &["::ffff:10.2.2.2"], "10.2.2.2"),
                ("::ffff:11.1.2.3", &["198.51.100.9"], "11.1.2.3"),
            ],
        );
    }

    #[test]
    fn several_header_values_are_one_list() {
        check(
            &trusted(&["10.0.0.0/8"]),
            &[
                ("10.1.2.3", &["6.6.6.6", "198.51.100.9"], "198.51.100.9"),
                ("10.1.2.3", &["198.51.100.9", "10.9.9.9"], "198.51.100.9"),
                (
                    "10.1.2.3",
                    &["6.6.6.6, 198.51.100.9", "10.8.8.8, 10.9.9.9"],
                    "198.51.100.9",
                ),
                ("10.1.2.3", &["10.8.8.8", "10.9.9.9"], "10.8.8.8"),
            ],
        );
    }

    #[test]
    fn trusting_everyone_believes_the_left_most_entry() {
        // Why production refuses 0.0.0.0/0: the client picks its own address.
        check(
            &trusted(&["0.0.0.0/0", "::/0"]),
            &[("203.0.113.7", &["1.2.3.4, 5.6.7.8"], "1.2.3.4")],
        );
    }

    #[test]
    fn at_most_32_entries_are_examined() {
        let lb = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.1.2.3");
        let proxies = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
                .collect()
        };

        // The client just inside the window is found.
        let mut list = vec!["198.51.100.9".to_owned()];
        list.extend(proxies(31));
        let header = list.join(", ");
        assert_eq!(client_ip(peer, &[&header], &lb), ip("198.51.100.9"));

        // One more proxy pushes it out: the walk stops at the left-most examined (trusted)
        // entry, the 32nd from the right.
        let mut list = vec!["198.51.100.9".to_owned()];
        list.extend(proxies(32));
        let header = list.join(", ");
        assert_eq!(client_ip(peer, &[&header], &lb), ip("10.0.0.0"));

        // The window spans header values.
        let mut values = vec!["198.51.100.9".to_owned()];
        values.extend(proxies(33));
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(client_ip(peer, &refs, &lb), ip("10.0.0.1"));

        // Hundreds of trusted-looking entries (under the byte cap) cost 32 parses and give
        // the 32nd from the right, never the client-chosen address beyond the window.
        let mut list = vec!["6.6.6.6".to_owned()];
        list.extend(proxies(600));
        let header = list.join(",");
        assert!(header.len() <= MAX_FORWARDED_BYTES);
        assert_eq!(client_ip(peer, &[&header], &lb), ip(&list[list.len() - 32]));
    }

    #[test]
    fn oversized_headers_are_not_read() {
        let lb = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.1.2.3");
        let padding = format!("{},", "1".repeat(MAX_FORWARDED_BYTES));
        let header = format!("{padding}198.51.100.9");
        assert_eq!(client_ip(peer, &[&header], &lb), peer);
        // Split over values, the total still counts.
        let half = "9".repeat(MAX_FORWARDED_BYTES / 2);
        assert_eq!(client_ip(peer, &[&half, &half, "198.51.100.9"], &lb), peer);
        // Exactly at the cap is read.
        let client = "198.51.100.9";
        let filler = format!("{},", "x".repeat(MAX_FORWARDED_BYTES - client.len() - 1));
        let header = format!("{filler}{client}");
        assert_eq!(header.len(), MAX_FORWARDED_BYTES);
        assert_eq!(client_ip(peer, &[&header], &lb), ip(client));
        assert_eq!(
            client_ip(peer, &[&format!("x{header}")], &lb),
            peer,
            "one byte over"
        );
        // An untrusted peer is its own client whatever it sends.
        assert_eq!(
            client_ip(ip("203.0.113.7"), &[&header], &lb),
            ip("203.0.113.7")
        );
    }
}
