//! [`HostPolicy`]: which `Host` a request may name, against DNS rebinding.
//!
//! A page on `evil.example` can have its name re-resolved to this server's address; the
//! browser then treats the server as part of the attacker's origin and lets the page read
//! its answers. The Origin check does not help there (the origin really is the page's own).
//! What gives the attack away is the Host header: it still says `evil.example`. So a request
//! is served only when its Host is a name this server answers to, or one that no DNS can
//! rebind: `localhost` names (browsers resolve them to loopback themselves) and IP literals.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which hosts requests may be addressed to.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `*` was configured: every well-formed Host is served.
    any_host: bool,
    /// Every IP literal is served, not only loopback ones: the server listens beyond loopback,
    /// so clients reach it by its other addresses.
    any_ip: bool,
    listen: SocketAddr,
    allowed: Vec<Allowed>,
}

/// One --allowed-hosts entry other than `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    pattern: Pattern,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(Host),
    /// `*.example.com`, kept as `.example.com`.
    SubdomainsOf(String),
}

/// A host, normalised: names in lower case without a trailing dot, IPv4-mapped IPv6 as IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

/// A parsed `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: Host,
    port: Option<u16>,
}

impl HostPolicy {
    /// `allowed` as given by --allowed-hosts: names (any port) or name:port, case-insensitive,
    /// a trailing dot ignored; `*` allows every host; `*.example.com` allows subdomains of
    /// example.com (not example.com itself unless listed). Err with a clear message for an
    /// unusable entry. Empty entries (a stray comma) are skipped. An IP literal is accepted
    /// too, for a loopback listener behind a proxy that passes it on.
    pub fn new(listen: SocketAddr, allowed: &[String]) -> Result<HostPolicy, String> {
        let mut policy = HostPolicy {
            any_host: false,
            any_ip: !is_loopback(listen.ip()),
            listen,
            allowed: Vec::new(),
        };
        for entry in allowed {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                policy.any_host = true;
                continue;
            }
            let parsed = parse_allowed(entry).map_err(|why| {
                format!(
                    "--allowed-hosts: `{entry}` is not usable: {why} \
                     (expected name, name:port, *.domain or *)"
                )
            })?;
            policy.allowed.push(parsed);
        }
        Ok(policy)
    }

    /// Whether a request whose Host header (or :authority) is `host` may be served. Always
    /// allowed: `localhost`, names ending in `.localhost`, loopback addresses (127.0.0.0/8,
    /// `[::1]`); when the server listens on a non-loopback address (0.0.0.0, a LAN address…),
    /// also ANY IP-literal host (an IP literal cannot be rebound by DNS); otherwise only the
    /// configured names. None (no Host header) → false.
    ///
    /// A Host that is not a well-formed `host[:port]` is refused even under `*`: it names no
    /// host at all. A Host without a port matches a `name:80` or `name:443` entry, the ports
    /// a browser leaves out.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(raw) = host else {
            return false;
        };
        // Optional whitespace around a header value is not part of it.
        let Ok(authority) = parse_authority(raw.trim_matches([' ', '\t'])) else {
            return false;
        };
        if self.any_host {
            return true;
        }
        let always = match &authority.host {
            Host::Name(name) => name == "localhost" || name.ends_with(".localhost"),
            Host::Ip(ip) => self.any_ip || is_loopback(*ip),
        };
        always || self.allowed.iter().any(|a| a.matches(&authority))
    }

    /// One line for the startup log describing what is allowed; when listening on a
    /// non-loopback address with no names configured, say that requests by name need
    /// --allowed-hosts.
    pub fn describe(&self) -> String {
        if self.any_host {
            return "Host check off (--allowed-hosts *): requests for any host are served, so \
                    a page on any domain that resolves to this server can use it"
                .to_string();
        }
        let mut line = String::from("Hosts allowed: localhost names, ");
        line.push_str(if self.any_ip {
            "any IP address"
        } else {
            "loopback addresses"
        });
        for allowed in &self.allowed {
            line.push_str(", ");
            line.push_str(&allowed.to_string());
        }
        if self.allowed.is_empty() {
            if self.any_ip {
                line.push_str(&format!(
                    "; listening on {}, requests by host name need --allowed-hosts",
                    self.listen
                ));
            } else {
                // The usual deployment: a reverse proxy on this machine passing the public name.
                line.push_str("; a proxy passing another host name needs it in --allowed-hosts");
            }
        }
        line
    }
}

impl Allowed {
    fn matches(&self, authority: &Authority) -> bool {
        let port_ok = match (self.port, authority.port) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            (Some(want), None) => want == 80 || want == 443,
        };
        port_ok
            && match (&self.pattern, &authority.host) {
                (Pattern::Exact(host), got) => host == got,
                (Pattern::SubdomainsOf(suffix), Host::Name(name)) => name.ends_with(suffix),
                (Pattern::SubdomainsOf(_), Host::Ip(_)) => false,
            }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pattern {
            Pattern::Exact(Host::Name(name)) => write!(f, "{name}")?,
            Pattern::Exact(Host::Ip(IpAddr::V4(v4))) => write!(f, "{v4}")?,
            Pattern::Exact(Host::Ip(IpAddr::V6(v6))) => write!(f, "[{v6}]")?,
            Pattern::SubdomainsOf(suffix) => write!(f, "*{suffix}")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// One --allowed-hosts entry other than `*`.
fn parse_allowed(entry: &str) -> Result<Allowed, &'static str> {
    if entry.contains("://") {
        return Err("give a host name, not a URL");
    }
    if let Some(rest) = entry.strip_prefix("*.") {
        let authority = parse_authority(rest)?;
        let Host::Name(domain) = authority.host else {
            return Err("`*.` must be followed by a domain name, not an address");
        };
        return Ok(Allowed {
            pattern: Pattern::SubdomainsOf(format!(".{domain}")),
            port: authority.port,
        });
    }
    if entry.contains('*') {
        return Err("`*` may only stand alone or start `*.domain`");
    }
    let authority = parse_authority(entry)?;
    Ok(Allowed {
        pattern: Pattern::Exact(authority.host),
        port: authority.port,
    })
}

/// `name`, `name:port`, `a.b.c.d[:port]`, `[v6]` or `[v6]:port`; anything else is refused,
/// with the reason.
fn parse_authority(s: &str) -> Result<Authority, &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("`[` without `]`")?;
        let v6: Ipv6Addr = inside
            .parse()
            .map_err(|_| "not an IPv6 address inside `[ ]`")?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(parse_port(port)?),
            None if after.is_empty() => None,
            None => return Err("junk after `]`"),
        };
        return Ok(Authority {
            host: Host::Ip(canonical(IpAddr::V6(v6))),
            port,
        });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (s, None),
    };
    if host.contains(':') {
        return Err("an IPv6 address must be in brackets: [v6]:port");
    }
    Ok(Authority {
        host: parse_host(host)?,
        port,
    })
}

/// One to five ASCII digits that fit a port number.
fn parse_port(s: &str) -> Result<u16, &'static str> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port is not a number");
    }
    s.parse().map_err(|_| "the port is over 65535")
}

/// A dotted-quad IPv4 address, or a DNS name.
///
/// Browsers read a host whose last label is a number (`127.1`, `0x7f.1`, `2130706433`) as an
/// IPv4 address and send it in the canonical dotted-quad form, which is the only form taken
/// as an address here. Any other host ending in a number is refused: it is no DNS name either,
/// and resolvers disagree on what it means.
fn parse_host(s: &str) -> Result<Host, &'static str> {
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err("not a host name");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("not a host name: an empty or overlong label");
        }
        let name_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if !label.bytes().all(name_char) {
            return Err("not a host name: only letters, digits, `-`, `_` and dots");
        }
    }
    if name.rsplit('.').next().is_some_and(is_number) {
        return Err("ends in a number but is not an IPv4 address a.b.c.d");
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

/// A label a browser's URL parser reads as a number: decimal, or `0x` hex.
fn is_number(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `ip` with an IPv4-mapped IPv6 address replaced by its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(listen: &str, allowed: &[&str]) -> HostPolicy {
        let listen = listen.parse().expect("test listen address");
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        HostPolicy::new(listen, &allowed).expect("usable test entries")
    }

    fn assert_allows(p: &HostPolicy, hosts: &[&str]) {
        for host in hosts {
            assert!(p.allows(Some(host)), "should allow {host:?}");
        }
    }

    fn assert_refuses(p: &HostPolicy, hosts: &[&str]) {
        for host in hosts {
            assert!(!p.allows(Some(host)), "should refuse {host:?}");
        }
    }

    const LOCAL: &[&str] = &[
        "localhost",
        "LOCALHOST",
        "LocalHost:8080",
        "localhost.",
        "localhost.:8080",
        "app.localhost",
        "a.b.localhost:1",
        "APP.LOCALHOST.",
        "127.0.0.1",
        "127.0.0.1:8080",
        "127.5.6.7:65535",
        "[::1]",
        "[::1]:8080",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]:80",
        " localhost\t",
    ];

    /// Names and non-hosts that must never pass, whatever the listener.
    const TRICKS: &[&str] = &[
        "",
        " ",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "127.0.0.1.nip.io",
        "evillocalhost",
        "localhostevil",
        "evil.example#@localhost",
        "evil.example@localhost",
        "user@localhost",
        "localhost@evil.example",
        "localhost:80@evil.example",
        "localhost/",
        "localhost/evil",
        "localhost\\evil",
        "localhost?x",
        "localhost%2eevil.example",
        "l\u{043e}calhost",
        "local host",
        "localhost, evil.example",
        "localhost..",
        ".localhost",
        "..localhost",
        "*.localhost",
        "localhost:",
        "localhost:99999",
        "localhost:65536",
        "localhost:123456",
        "localhost:-1",
        "localhost:+80",
        "localhost:8o",
        "localhost:80:80",
        "localhost\0",
        "0x7f.1",
        "0x7f000001",
        "0X7F.0.0.1",
        "2130706433",
        "127.1",
        "0177.0.0.1",
        "127.0.0.01",
        "127.0.0.1.",
        "1.2.3.4.5",
        "::1",
        "[::1",
        "::1]",
        "[::1]x",
        "[::1]:",
        "[::1]:99999",
        "[127.0.0.1]",
        "[fe80::1%25eth0]",
        "[[::1]]",
    ];

    #[test]
    fn no_host_is_refused() {
        assert!(!policy("127.0.0.1:8080", &[]).allows(None));
        assert!(!policy("0.0.0.0:8080", &["*"]).allows(None));
    }

    #[test]
    fn loopback_listener_allows_local_names_and_loopback_addresses_only() {
        let p = policy("127.0.0.1:8080", &[]);
        assert_allows(&p, LOCAL);
        assert_refuses(&p, TRICKS);
        assert_refuses(
            &p,
            &[
                "192.168.1.5",
                "10.0.0.1:8080",
                "[2001:db8::1]",
                "[::ffff:10.0.0.1]",
                "0.0.0.0",
                "chat.example.com",
                "example",
            ],
        );
    }

    #[test]
    fn ipv6_loopback_listener_is_loopback_too() {
        let p = policy("[::1]:8080", &[]);
        assert_allows(&p, LOCAL);
        assert_refuses(&p, &["192.168.1.5", "[2001:db8::1]:8080"]);
    }

    #[test]
    fn wider_listener_allows_any_ip_literal_but_no_name() {
        for listen in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.168.1.5:80",
            "[2001:db8::5]:80",
        ] {
            let p = policy(listen, &[]);
            assert_allows(&p, LOCAL);
            assert_allows(
                &p,
                &[
                    "192.168.1.5",
                    "192.168.1.5:8080",
                    "8.8.8.8",
                    "0.0.0.0",
                    "[2001:db8::1]",
                    "[2001:db8::1]:443",
                    "[::ffff:10.0.0.1]",
                ],
            );
            assert_refuses(&p, TRICKS);
            assert_refuses(&p, &["chat.example.com", "example", "my-host:8080"]);
        }
    }

    #[test]
    fn configured_names_any_port_ignoring_case_and_trailing_dot() {
        let p = policy("0.0.0.0:8080", &["Chat.Example.COM.", "intra_net"]);
        assert_allows(
            &p,
            &[
                "chat.example.com",
                "CHAT.EXAMPLE.COM:443",
                "chat.example.com.:8080",
                "intra_net",
                "INTRA_NET:1",
            ],
        );
        assert_refuses(&p, TRICKS);
        assert_refuses(
            &p,
            &[
                "example.com",
                "evil-chat.example.com",
                "xchat.example.com",
                "a.chat.example.com",
                "chat.example.com.evil",
                "chat.example.co",
                "chat.example.com..",
            ],
        );
    }

    #[test]
    fn configured_name_with_port_allows_that_port_only() {
        let p = policy(
            "127.0.0.1:8080",
            &["chat.example.com:8443", "web.example:443"],
        );
        assert_allows(
            &p,
            &[
                "chat.example.com:8443",
                "web.example:443",
                // A browser leaves out the default port.
                "web.example",
            ],
        );
        assert_refuses(
            &p,
            &[
                "chat.example.com",
                "chat.example.com:8080",
                "chat.example.com:443",
                "web.example:8443",
            ],
        );
    }

    #[test]
    fn wildcard_allows_subdomains_not_the_domain() {
        let p = policy("127.0.0.1:8080", &["*.example.com"]);
        assert_allows(
            &p,
            &["a.example.com", "A.B.Example.com.:9000", "x-1.example.com"],
        );
        assert_refuses(
            &p,
            &[
                "example.com",
                "badexample.com",
                "a.example.com.evil",
                "a.example.comx",
                ".example.com",
            ],
        );
        let both = policy("127.0.0.1:8080", &["*.example.com", "example.com"]);
        assert_allows(&both, &["example.com", "a.example.com"]);
    }

    #[test]
    fn wildcard_with_port() {
        let p = policy("127.0.0.1:8080", &["*.example.com:8443"]);
        assert_allows(&p, &["a.example.com:8443"]);
        assert_refuses(&p, &["a.example.com", "a.example.com:8080"]);
    }

    #[test]
    fn ip_entries_allow_that_address() {
        let p = policy("127.0.0.1:8080", &["192.168.1.5", "[2001:db8::1]:8080"]);
        assert_allows(&p, &["192.168.1.5:1", "[2001:db8::1]:8080"]);
        assert_refuses(&p, &["192.168.1.6", "[2001:db8::1]:8081", "[2001:db8::2]"]);
    }

    #[test]
    fn star_allows_every_well_formed_host() {
        let p = policy("127.0.0.1:8080", &["*"]);
        assert_allows(&p, LOCAL);
        assert_allows(&p, &["evil.example", "chat.example.com:1", "10.0.0.1"]);
        assert_refuses(
            &p,
            &[
                "",
                "evil.example@localhost",
                "a b",
                "localhost:99999",
                "0x7f.1",
            ],
        );
    }

    #[test]
    fn empty_entries_are_skipped() {
        let p = policy("0.0.0.0:8080", &["", " ", "chat.example.com"]);
        assert_allows(&p, &["chat.example.com"]);
        assert_refuses(&p, &["", "example.com"]);
    }

    #[test]
    fn unusable_entries_are_errors_naming_the_entry() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().expect("listen");
        for bad in [
            "http://chat.example.com",
            "chat.example.com/",
            "chat example.com",
            "chat.example.com:",
            "chat.example.com:99999",
            "chat.example.com:http",
            "*example.com",
            "foo.*.com",
            "*.",
            "*.*.example.com",
            "**",
            "*.1.2.3.4",
            "*.[::1]",
            "user@chat.example.com",
            "::1",
            "[::1",
            "127.1",
            "0x7f.1",
            "chat..example.com",
            "ch\u{e4}t.example.com",
        ] {
            let err = HostPolicy::new(listen, &[bad.to_string()])
                .expect_err(&format!("{bad:?} should be refused"));
            assert!(err.contains("--allowed-hosts"), "{err}");
            assert!(err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn describe_says_what_is_allowed() {
        let wide = policy("0.0.0.0:8080", &[]).describe();
        assert!(wide.contains("any IP address"), "{wide}");
        assert!(wide.contains("need --allowed-hosts"), "{wide}");
        assert!(wide.contains("0.0.0.0:8080"), "{wide}");

        let named = policy("0.0.0.0:8080", &["Chat.Example.com", "*.example.org:8443"]);
        let named = named.describe();
        assert!(named.contains("chat.example.com"), "{named}");
        assert!(named.contains("*.example.org:8443"), "{named}");
        assert!(!named.contains("need --allowed-hosts"), "{named}");

        let local = policy("127.0.0.1:8080", &["[2001:db8::1]:80"]).describe();
        assert!(local.contains("loopback addresses"), "{local}");
        assert!(!local.contains("any IP address"), "{local}");
        assert!(local.contains("[2001:db8::1]:80"), "{local}");

        let off = policy("127.0.0.1:8080", &["*"]).describe();
        assert!(off.contains("off"), "{off}");
    }
}
