//! Who a connection's client is: the peer address, or the address a trusted reverse proxy
//! reports in `X-Forwarded-For`; and the key an address is counted under.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The key an address is counted under: an IPv4 address itself (IPv4-mapped IPv6 counts as its
/// IPv4 address); an IPv6 address by its /64.
///
/// One IPv6 host usually holds a whole /64 and can pick any address in it at will, so counting
/// single IPv6 addresses would give it 2^64 separate allowances.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IpKey(IpAddr);

impl IpKey {
    /// The address (an IPv6 one with its low 64 bits zero).
    pub fn addr(&self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for IpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The key `ip` is counted under.
pub fn ip_key(ip: IpAddr) -> IpKey {
    match canonical(ip) {
        IpAddr::V4(v4) => IpKey(IpAddr::V4(v4)),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            IpKey(IpAddr::V6(Ipv6Addr::from(prefix)))
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket reports
/// for an IPv4 peer) replaced by its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether `ip` lies in one of the `trusted` proxy networks. An IPv4 address and its
/// IPv4-mapped IPv6 form are the same host: either form matches a network written in the other.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let v4 = canonical(ip);
    let mapped = match v4 {
        IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
        IpAddr::V6(_) => v4,
    };
    trusted
        .iter()
        .any(|net| net.contains(&v4) || net.contains(&mapped))
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the right-most
/// address in the X-Forwarded-For values (all header values in order, each comma-separated)
/// that is not a trusted proxy. Unparseable entries (garbage, "unknown", ports like
/// `1.2.3.4:5`, `[::1]:5` — accept those forms by stripping the port; refuse garbage) stop the
/// walk: the client is then the last trusted hop seen (never an attacker-chosen value). If
/// every entry is trusted, the left-most one.
///
/// The walk goes right to left because each proxy appends the address it saw: entries to the
/// right of the first untrusted one were written by our proxies, anything to its left by the
/// client, who can write whatever it likes. Empty list elements (`a, , b`, a trailing comma)
/// are not entries: HTTP's list syntax lets senders write them and tells recipients to skip
/// them.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let entries = forwarded_for.rev().flat_map(|value| value.rsplit(','));
    for entry in entries {
        let entry = entry.trim_matches([' ', '\t']);
        if entry.is_empty() {
            continue;
        }
        let Some(ip) = parse_entry(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// One X-Forwarded-For entry: `a.b.c.d`, `a.b.c.d:port`, an IPv6 address, `[v6]` or
/// `[v6]:port`. Anything else (`unknown`, obfuscated identifiers, zone ids) is `None`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = inside.parse().ok()?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok.then_some(IpAddr::V6(ip));
    }
    let (addr, port) = entry.split_once(':')?;
    let ip: Ipv4Addr = addr.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(ip))
}

/// One to five ASCII digits that fit a port number.
fn is_port(s: &str) -> bool {
    (1..=5).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| s.parse().expect("test network"))
            .collect()
    }

    #[test]
    fn ipv4_is_its_own_key() {
        assert_eq!(ip_key(ip("1.2.3.4")), ip_key(ip("1.2.3.4")));
        assert_ne!(ip_key(ip("1.2.3.4")), ip_key(ip("1.2.3.5")));
        assert_eq!(ip_key(ip("1.2.3.4")).to_string(), "1.2.3.4");
    }

    #[test]
    fn ipv4_mapped_counts_as_ipv4() {
        assert_eq!(ip_key(ip("::ffff:1.2.3.4")), ip_key(ip("1.2.3.4")));
        assert_eq!(ip_key(ip("::ffff:127.0.0.1")), ip_key(ip("127.0.0.1")));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let a = ip_key(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ip_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_eq!(a, ip_key(ip("2001:db8:1:2::")));
        assert_ne!(a, ip_key(ip("2001:db8:1:3::1")));
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        // The deprecated IPv4-compatible form is plain IPv6, not the IPv4 address 0.0.0.1.
        assert_ne!(ip_key(ip("::1")), ip_key(ip("0.0.0.1")));
    }

    #[test]
    fn trusted_matches_either_form_of_ipv4() {
        let t = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(is_trusted(ip("10.1.2.3"), &t));
        assert!(is_trusted(ip("::ffff:10.1.2.3"), &t));
        assert!(is_trusted(ip("2001:db8::5"), &t));
        assert!(!is_trusted(ip("11.0.0.1"), &t));
        assert!(!is_trusted(ip("2001:db9::5"), &t));
        assert!(!is_trusted(ip("10.0.0.1"), &[]));
        let mapped = nets(&["::ffff:192.168.0.0/112"]);
        assert!(is_trusted(ip("192.168.3.4"), &mapped));
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        let t = nets(&["10.0.0.0/8"]);
        let peer = ip("203.0.113.9");
        assert_eq!(client_ip(peer, ["1.1.1.1"].into_iter(), &t), peer);
        assert_eq!(client_ip(peer, ["10.0.0.1"].into_iter(), &t), peer);
        assert_eq!(client_ip(peer, std::iter::empty(), &t), peer);
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), std::iter::empty(), &t),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), [""].into_iter(), &t),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn rightmost_untrusted_entry_wins() {
        let t = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        // The client forged the first entry; our proxy appended what it saw.
        let xff = ["6.6.6.6, 203.0.113.7, 10.0.0.2"];
        assert_eq!(client_ip(peer, xff.into_iter(), &t), ip("203.0.113.7"));
    }

    #[test]
    fn several_header_values_are_one_list_in_order() {
        let t = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let xff = ["6.6.6.6", "203.0.113.7, 10.0.0.3", "10.0.0.2"];
        assert_eq!(client_ip(peer, xff.into_iter(), &t), ip("203.0.113.7"));
        let xff = ["6.6.6.6, 10.0.0.3", "10.0.0.2"];
        assert_eq!(client_ip(peer, xff.into_iter(), &t), ip("6.6.6.6"));
    }

    #[test]
    fn all_trusted_gives_the_leftmost() {
        let t = nets(&["10.0.0.0/8"]);
        let xff = ["10.0.0.9, 10.0.0.8", "10.0.0.7"];
        assert_eq!(
            client_ip(ip("10.0.0.1"), xff.into_iter(), &t),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let t = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for bad in [
            "unknown",
            "_hidden",
            "evil",
            "1.2.3.4:",
            "1.2.3.4:99999",
            "1.2.3.4:5:6",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[1.2.3.4]",
            "fe80::1%eth0",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4 5.6.7.8",
        ] {
            // Whatever an attacker wrote left of the garbage must not be believed.
            let xff = format!("6.6.6.6, {bad}, 10.0.0.2");
            assert_eq!(
                client_ip(peer, [xff.as_str()].into_iter(), &t),
                ip("10.0.0.2"),
                "{bad}"
            );
            assert_eq!(client_ip(peer, [bad].into_iter(), &t), peer, "{bad}");
        }
    }

    #[test]
    fn ports_are_stripped() {
        let t = nets(&["10.0.0.0/8", "::1/128"]);
        let peer = ip("10.0.0.1");
        for (entry, want) in [
            ("203.0.113.7:4711", "203.0.113.7"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7", "2001:db8::7"),
            (" \t203.0.113.7 ", "203.0.113.7"),
        ] {
            assert_eq!(
                client_ip(peer, [entry].into_iter(), &t),
                ip(want),
                "{entry}"
            );
        }
        // A trusted hop with a port is still a trusted hop.
        let xff = ["203.0.113.7, [::1]:8080, 10.0.0.2:1"];
        assert_eq!(client_ip(peer, xff.into_iter(), &t), ip("203.0.113.7"));
    }

    #[test]
    fn empty_elements_are_skipped() {
        let t = nets(&["10.0.0.0/8"]);
        let xff = [" , 203.0.113.7, , 10.0.0.2,"];
        assert_eq!(
            client_ip(ip("10.0.0.1"), xff.into_iter(), &t),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn mapped_peer_is_trusted_by_its_ipv4_network() {
        let t = nets(&["10.0.0.0/8"]);
        let xff = ["203.0.113.7"];
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), xff.into_iter(), &t),
            ip("203.0.113.7")
        );
    }
}
