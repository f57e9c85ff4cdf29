//! Server-side request forgery: which addresses a server-side fetch must never reach.
//!
//! **Threat:** a URL a client stores today is fetched by the server tomorrow (a link preview, a
//! webhook, an image proxy). If that URL names `127.0.0.1:6379`, `169.254.169.254` (the cloud
//! metadata service, which hands out credentials) or a host on the private network, the server
//! makes the request for the client, from inside the perimeter.
//!
//! [`is_non_global`] is the one answer to "may a server-side fetch connect to this address?".
//! It is true for loopback, private, shared (CGNAT), link-local, documentation, benchmarking,
//! reserved, multicast and broadcast addresses, for every IPv6 address outside the global
//! unicast block `2000::/3` (`::1`, `::`, `fc00::/7`, `fe80::/10`, ...), and for IPv6 addresses
//! that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
//! `2002:aabb:ccdd::`) when the IPv4 address they carry is non-global.
//!
//! **Rule at write time** ([`refuse_url`]): only `http` and `https`, parsed the way a fetcher
//! parses them (WHATWG, the `url` crate: `http://0x7f000001/`, `http://2130706433/`,
//! `http://0177.0.0.1/` and `http://127.1/` are all `127.0.0.1`, and are refused as such). No user
//! name or password in the URL. An IP-literal host must not be non-global. A host name must not
//! be local by definition: `localhost`, `*.localhost`, `*.localdomain` (`localhost.localdomain` is in many `/etc/hosts`), `*.local`, `*.lan`, `*.internal` (which includes
//! `metadata.google.internal`), `*.home.arpa`, any name without a dot (resolved through the
//! resolver's search domains, so `http://redis:6379/` or `http://metadata/` reach the local
//! network), each also with a trailing dot.
//!
//! **DNS names are not resolved here.** Checking at write time cannot know what a name will
//! resolve to at fetch time: `127.0.0.1.nip.io` is an ordinary public name that resolves to
//! loopback, and any name's records can change between the write and the fetch (DNS
//! rebinding). [`refuse_url`] is a first gate that keeps the obvious cases out of storage and
//! gives the client a clear 400; it is not enough on its own. Whatever fetches a URL must
//! resolve the name itself, refuse if *any* resolved address [`is_non_global`], connect to the
//! address it checked (not re-resolve), bypass environment proxies, and run the same check on
//! every redirect hop.
//!
//! [`PROBE_URLS`] are the addresses `rampart scan` submits to URL fields; a unit test asserts
//! that [`refuse_url`] refuses every one of them, so the server and the scanner agree by
//! construction.
//!
//! ```
//! use rampart_core::ssrf::{Refusal, is_non_global, refuse_url};
//!
//! assert_eq!(refuse_url("https://example.com/a?b=c"), Ok(()));
//! assert_eq!(
//!     refuse_url("http://169.254.169.254/latest/meta-data/"),
//!     Err(Refusal::NonGlobalAddress)
//! );
//! // The same address in hexadecimal is the same address.
//! assert_eq!(refuse_url("http://0x7f000001/"), Err(Refusal::NonGlobalAddress));
//! assert_eq!(refuse_url("http://localhost:6379/"), Err(Refusal::LocalName));
//!
//! // What a fetcher checks after resolving a name.
//! assert!(is_non_global("10.0.0.1".parse().unwrap()));
//! assert!(!is_non_global("93.184.215.14".parse().unwrap()));
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Url};

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

/// IPv4 networks a server-side fetch must not reach: every range the IANA special-purpose
/// registry marks as not globally reachable, plus multicast and the deprecated 6to4 relay
/// anycast range.
const V4_NON_GLOBAL: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),       // "this network"; 0.0.0.0 reaches the local host on Linux
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // shared address space (CGNAT); also some clouds' metadata
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local; cloud metadata at 169.254.169.254
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 88, 99, 0, 24),  // deprecated 6to4 relay anycast
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, and the broadcast address 255.255.255.255
];

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// `2000::/3`: global unicast. IPv6 outside it (loopback, unspecified, IPv4-compatible,
/// discard-only, unique local, link-local, site-local, multicast, ...) is never a public host,
/// apart from the two IPv4-carrying forms checked before it.
const V6_GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// `64:ff9b::/96`: NAT64, the IPv4 address in the low 32 bits.
const V6_NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// `2002::/16`: 6to4, the IPv4 address in bits 16 to 48.
const V6_6TO4: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// Ranges inside `2000::/3` that are not globally reachable.
const V6_NON_GLOBAL_IN_UNICAST: &[Ipv6Net] = &[
    // IETF protocol assignments: Teredo (2001::/32, which tunnels to an IPv4 address of the
    // client's choosing), benchmarking, ORCHID identifiers.
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation (RFC 9637)
];

/// Whether a server-side fetch must never connect to `ip`.
///
/// A fetcher calls this on every address a name resolves to (refusing if any is non-global)
/// and on IP-literal hosts, which resolvers pass through unchecked. IPv6 addresses that carry
/// an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4
/// address they carry, because that is where a connection to them ends up.
pub fn is_non_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => v4_non_global(ip),
        IpAddr::V6(ip) => v6_non_global(ip),
    }
}

fn v4_non_global(ip: Ipv4Addr) -> bool {
    V4_NON_GLOBAL.iter().any(|net| net.contains(&ip))
}

fn v6_non_global(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_non_global(v4);
    }
    let [_, s1, s2, _, _, _, s6, s7] = ip.segments();
    let from_segments = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if V6_NAT64.contains(&ip) {
        return v4_non_global(from_segments(s6, s7));
    }
    if V6_6TO4.contains(&ip) {
        return v4_non_global(from_segments(s1, s2));
    }
    !V6_GLOBAL_UNICAST.contains(&ip) || V6_NON_GLOBAL_IN_UNICAST.iter().any(|n| n.contains(&ip))
}

/// Why [`refuse_url`] refused a URL. The text (a predicate, like the field messages) is safe to
/// show to the client that sent the URL and names no internals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not `http://` or `https://`, or not a URL at all.
    #[error("must be an http or https URL")]
    NotHttp,
    /// A user name or password before the host (`http://user@host/`).
    #[error("must not contain a user name or password")]
    Credentials,
    /// A host name that is local by definition (`localhost`, `*.internal`, a name without a
    /// dot, ...).
    #[error("must not name a local host")]
    LocalName,
    /// An IP-literal host that [`is_non_global`].
    #[error("must not point at a private, loopback or other non-public address")]
    NonGlobalAddress,
}

/// Suffixes of names that are local by definition (RFC 6761, RFC 6762, RFC 8375, and
/// `.internal`, reserved for private use by ICANN in 2024 and used by cloud metadata).
const LOCAL_SUFFIXES: &[&str] = &[
    "localhost",
    "localdomain",
    "local",
    "internal",
    "home.arpa",
    "lan",
];

/// Refuses a URL that a server-side fetch must not be pointed at, before it is stored.
///
/// Accepts only `http` and `https` URLs whose host is a public IP address or a DNS name that is
/// not local by definition; see the [module documentation](self) for the rule and for what the
/// fetcher must still check, since DNS names are not resolved here.
pub fn refuse_url(raw: &str) -> Result<(), Refusal> {
    // The WHATWG parser silently drops tabs and newlines anywhere and trims control
    // characters and spaces at the ends; refuse them instead of checking a different string
    // from the one stored.
    if raw.chars().any(char::is_control) {
        return Err(Refusal::NotHttp);
    }
    let rest = strip_prefix_ignore_case(raw, "https://")
        .or_else(|| strip_prefix_ignore_case(raw, "http://"))
        .ok_or(Refusal::NotHttp)?;
    // Look at the authority as written, too, not only as the `url` crate reads it: parsers
    // disagree about `http://a\@127.0.0.1/` (WHATWG: host `a`; a lenient RFC 3986 parser: user
    // `a\` at host `127.0.0.1`), and the fetcher may not be the parser checked here.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        // WHATWG skips extra slashes (`http:///example.com` has host `example.com`); other
        // parsers see an empty host.
        return Err(Refusal::NotHttp);
    }
    if authority.contains('@') {
        return Err(Refusal::Credentials);
    }
    if authority.contains('\\') || authority.chars().any(char::is_whitespace) {
        return Err(Refusal::NotHttp);
    }
    let url = Url::parse(raw).map_err(|_| Refusal::NotHttp)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::NotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    match url.host() {
        None => Err(Refusal::NotHttp),
        Some(Host::Ipv4(ip)) if v4_non_global(ip) => Err(Refusal::NonGlobalAddress),
        Some(Host::Ipv6(ip)) if v6_non_global(ip) => Err(Refusal::NonGlobalAddress),
        Some(Host::Domain(name)) if is_local_name(name) => Err(Refusal::LocalName),
        Some(_) => Ok(()),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `name` is as the `url` crate leaves it: lowercased, IDNA-mapped (so `ＬＯＣＡＬＨＯＳＴ` and
/// `localhost。` arrive as `localhost` and `localhost.`), percent-decoded.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    // A name without a dot is completed from the resolver's search domains: it names a host on
    // the local network (`redis`, `metadata`, `kubernetes`), never a public site.
    !name.contains('.')
        || LOCAL_SUFFIXES.iter().any(|suffix| {
            name == *suffix
                || name
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.'))
        })
}

/// What `rampart scan` submits to URL fields to see whether the server refuses them: loopback,
/// cloud metadata, private networks and the spellings that slip past naive checks. Every one is
/// refused by [`refuse_url`] (a unit test guards this), so a server that uses it passes the scan.
pub const PROBE_URLS: &[&str] = &[
    "http://127.0.0.1/",
    "http://localhost:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://0.0.0.0:8080/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://[::ffff:127.0.0.1]/",
    "http://127.0.0.1.:22/",
    "http://user@10.0.0.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(ip: &str, non_global: bool) {
        let parsed: IpAddr = ip.parse().unwrap();
        assert_eq!(is_non_global(parsed), non_global, "{ip}");
    }

    #[test]
    fn ipv4_ranges_that_are_not_public_are_non_global() {
        for ip in [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.100.100.200",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            check(ip, true);
        }
    }

    #[test]
    fn public_ipv4_is_global_including_the_neighbours_of_each_range() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            check(ip, false);
        }
    }

    #[test]
    fn ipv6_outside_global_unicast_is_non_global() {
        for ip in [
            "::",
            "::1",
            "::127.0.0.1",
            "::93.184.215.14",
            "100::1",
            "64:ff9b:1::a00:1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "5f00::1",
        ] {
            check(ip, true);
        }
    }

    #[test]
    fn ipv6_special_ranges_inside_global_unicast_are_non_global() {
        for ip in [
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
        ] {
            check(ip, true);
        }
        for ip in [
            "2606:4700::1",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2001:4860::8888",
        ] {
            check(ip, false);
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_judged_by_the_ipv4_address() {
        for (ip, non_global) in [
            ("::ffff:127.0.0.1", true),
            ("::ffff:7f00:1", true),
            ("0:0:0:0:0:ffff:7f00:1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:93.184.215.14", false),
            ("64:ff9b::127.0.0.1", true),
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::93.184.215.14", false),
            ("2002:7f00:1::", true),
            ("2002:a9fe:a9fe::1", true),
            ("2002:c0a8:101::1", true),
            ("2002:5db8:d70e::1", false),
        ] {
            check(ip, non_global);
        }
    }

    #[track_caller]
    fn url(raw: &str, expected: Result<(), Refusal>) {
        assert_eq!(refuse_url(raw), expected, "{raw}");
    }

    #[test]
    fn every_probe_url_is_refused() {
        for probe in PROBE_URLS {
            assert!(refuse_url(probe).is_err(), "{probe} was accepted");
        }
    }

    #[test]
    fn public_http_and_https_urls_are_accepted() {
        for raw in [
            "https://example.com/x",
            "http://example.com",
            "https://example.com/a?b=c#d",
            "HTTPS://Example.COM/Path",
            "https://example.com:8443/",
            "http://93.184.215.14/",
            "https://[2606:4700::1]/",
            "http://[::ffff:93.184.215.14]/",
            "https://xn--bcher-kva.example/",
            "https://bücher.example/",
            "https://example.com/#@127.0.0.1",
            "https://example.com/?next=http://127.0.0.1/",
            "https://my.local.example.com/",
            "https://localhost.example.com/",
            "https://internal.example.com/",
        ] {
            url(raw, Ok(()));
        }
    }

    #[test]
    fn only_http_and_https_are_accepted() {
        for raw in [
            "",
            "file:///etc/passwd",
            "ftp://example.com/",
            "gopher://example.com/",
            "javascript:alert(1)",
            "JAVASCRIPT://example.com/%0aalert(1)",
            "data:text/html,<script>",
            "//example.com/",
            "example.com",
            "http:example.com",
            "http:/example.com",
            "http:\\\\example.com",
            "http://",
            "http:///",
            "http:///example.com/",
            "http://exa mple.com/",
            " http://example.com/",
            "http://example.com/\u{0}",
            "http://example.com/\t",
            "http://127.0.0.\n1/",
            "http://example.com:99999/",
            "http://1.2.3.4.5/",
            "http://[fe80::1%25eth0]/",
        ] {
            url(raw, Err(Refusal::NotHttp));
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        for raw in [
            "http://a@b",
            "http://user@10.0.0.1/",
            "http://user:pass@example.com/",
            "http://@example.com/",
            "http://example.com@127.0.0.1/",
            "http://127.0.0.1:80@example.com/",
            "http://a\\@127.0.0.1/",
        ] {
            url(raw, Err(Refusal::Credentials));
        }
    }

    #[test]
    fn non_global_ip_literals_are_refused_in_every_spelling() {
        for raw in [
            "http://127.0.0.1/",
            "HTTP://127.0.0.1/",
            "hTtPs://127.0.0.1/",
            "http://127.0.0.1./",
            "http://127.0.0.1:6379/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://0X7F000001/",
            "http://2130706433/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f.1/",
            "http://%31%32%37.0.0.1/",
            "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
            "http://0/",
            "http://0.0.0.0/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://10.0.0.1/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.100.100.200/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
        ] {
            url(raw, Err(Refusal::NonGlobalAddress));
        }
    }

    #[test]
    fn local_host_names_are_refused_with_or_without_a_trailing_dot() {
        for raw in [
            "http://localhost/",
            "http://localhost./",
            "http://LOCALHOST:8080/",
            "http://loca%6chost/",
            "http://\u{24db}ocalhost/",
            "http://localhost\u{3002}/",
            "http://api.localhost/",
            "http://api.localhost./",
            "http://printer.local/",
            "http://printer.local./",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://metadata.google.internal./",
            "http://router.home.arpa/",
            "http://router.home.arpa./",
            "http://localhost.localdomain/",
            "http://nas.lan/",
            "http://home.arpa/",
            "http://metadata/",
            "http://redis:6379/",
            "http://./",
        ] {
            url(raw, Err(Refusal::LocalName));
        }
    }

    /// Documents the limit stated in the module doc: a public name that resolves to loopback
    /// passes here, so the fetcher must resolve and check with `is_non_global`.
    #[test]
    fn dns_names_are_not_resolved_at_write_time() {
        url("http://127.0.0.1.nip.io/", Ok(()));
    }

    #[test]
    fn refusals_read_as_field_messages() {
        assert_eq!(Refusal::NotHttp.to_string(), "must be an http or https URL");
        assert_eq!(
            Refusal::NonGlobalAddress.to_string(),
            "must not point at a private, loopback or other non-public address"
        );
    }
}
