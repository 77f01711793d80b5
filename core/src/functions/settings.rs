//! What an admin deploys: a module's source and its settings, validated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::tables::names::{valid_export_name, valid_module_name};
use crate::{Code, Error, Result};

pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Below API Gateway's 30 s, so a slow function is our answer and not the gateway's.
pub const MAX_TIMEOUT_MS: u64 = 25_000;
pub const DEFAULT_MEMORY_MB: u64 = 64;
pub const MAX_MEMORY_MB: u64 = 512;
pub const MAX_SECRETS: usize = 32;
pub const MAX_HOSTS: usize = 32;

/// Who may call an export over HTTP. Hooks and schedules run whatever it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Anyone,
    Users,
    Group(String),
    Admins,
    /// Only hooks and schedules run it.
    Nobody,
}

impl Access {
    pub fn parse(s: &str) -> Result<Access> {
        Ok(match s {
            "anyone" => Access::Anyone,
            "users" => Access::Users,
            "admins" => Access::Admins,
            "nobody" => Access::Nobody,
            g => match g.strip_prefix("group:") {
                Some(g) if crate::auth::valid_group(g) => Access::Group(g.to_string()),
                _ => {
                    return Err(Error::invalid_field(
                        "access",
                        "access is anyone, users, admins, nobody or group:<group>",
                    ));
                }
            },
        })
    }

    pub fn as_string(&self) -> String {
        match self {
            Access::Anyone => "anyone".into(),
            Access::Users => "users".into(),
            Access::Admins => "admins".into(),
            Access::Nobody => "nobody".into(),
            Access::Group(g) => format!("group:{g}"),
        }
    }

    /// 401 for anonymous callers an export wants logged in, 403 for the rest refused.
    pub fn check(&self, caller: &Caller) -> Result<()> {
        let ok = match self {
            Access::Anyone => true,
            // Hook and schedule exports are never a client's to call, an admin's neither.
            Access::Nobody => false,
            _ if caller.is_admin() => true,
            Access::Users => caller.user().is_some(),
            Access::Group(g) => caller.user().is_some_and(|u| u.in_group(g)),
            Access::Admins => false,
        };
        if ok {
            return Ok(());
        }
        if caller.user().is_none() && !matches!(caller, Caller::AdminKey) && *self != Access::Nobody
        {
            return Err(Error::new(
                Code::Unauthenticated,
                "log in to call this function",
            ));
        }
        Err(Error::new(
            Code::FunctionForbidden,
            match self {
                Access::Nobody => "this function runs only from hooks and schedules".to_string(),
                a => format!("this function may be called by {}", a.as_string()),
            },
        ))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExportSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// Cron (5 fields, or 6 with seconds first), UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// `PUT /v1/functions/{module}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleInput {
    pub source: String,
    #[serde(default)]
    pub access: Option<String>,
    #[serde(default)]
    pub exports: BTreeMap<String, ExportSettings>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub memory_mb: Option<u64>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl ModuleInput {
    pub fn split(self) -> (String, Settings) {
        (
            self.source,
            Settings {
                access: self.access,
                exports: self.exports,
                timeout_ms: self.timeout_ms,
                memory_mb: self.memory_mb,
                secrets: self.secrets,
                hosts: self.hosts,
            },
        )
    }
}

/// A module's settings as stored and shown.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// Who may call its exports (default `users`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exports: BTreeMap<String, ExportSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Secrets (`secrets.get(name)`) the module may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Hosts (`host` or `host:port`) `http.fetch` may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

pub fn valid_secret_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_uppercase())
        && n.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `host` or `host:port`, lower case, no scheme or path. The host is a DNS name (labels
/// of 1 to 63 of `a-z 0-9 -`, not starting or ending with `-`, at most 253 bytes, the
/// last label not all digits) or an IPv4 address in dotted-decimal; the port is 1 to
/// 65535. Says nothing about where the host is: that is [`check_host_reach`].
pub fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (h, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    port_ok && (ipv4_literal(host).is_some() || valid_dns_name(host))
}

/// A dotted-decimal IPv4 address: four decimal octets, no leading zeros (`010` would be
/// octal to some resolvers).
fn ipv4_literal(host: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4
        || parts.iter().any(|p| {
            p.is_empty()
                || p.len() > 3
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
        })
    {
        return None;
    }
    host.parse().ok()
}

fn valid_dns_name(host: &str) -> bool {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(label_ok)
        // `1.2.3` or `999.1.1.1` is no name, and no address either.
        && host
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// Why `ip` is no place for `http.fetch`, if it is not: link-local addresses (the cloud
/// metadata services at 169.254.169.254 and fd00:ec2::254 among them), unspecified,
/// broadcast and multicast addresses always; loopback, private, shared (100.64/10) and
/// unique-local addresses unless `allow_private`. Also meant for the addresses a name
/// resolves to when `http.fetch` connects.
pub fn forbidden_address(ip: std::net::IpAddr, allow_private: bool) -> Option<&'static str> {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) => {
            let [o0, o1, ..] = a.octets();
            if a.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if a.is_unspecified() || o0 == 0 || a.is_broadcast() || a.is_multicast() {
                Some("not an address a request can go to")
            } else if allow_private {
                None
            } else if a.is_loopback() {
                Some("the server itself (loopback)")
            } else if a.is_private() || (o0 == 100 && (64..128).contains(&o1)) {
                Some("a private-network address")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let seg = a.segments();
            if (seg[0] & 0xffc0) == 0xfe80
                || a == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
            {
                Some("a link-local address (cloud metadata services live there)")
            } else if a.is_unspecified() || a.is_multicast() {
                Some("not an address a request can go to")
            } else if allow_private {
                None
            } else if a.is_loopback() {
                Some("the server itself (loopback)")
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                Some("a private-network address")
            } else {
                None
            }
        }
    }
}

/// Names that always mean the machine itself or its cloud's metadata service.
fn forbidden_name(name: &str, allow_private: bool) -> Option<&'static str> {
    const METADATA: &[&str] = &["metadata.google.internal", "metadata", "instance-data"];
    if METADATA.contains(&name) || name.ends_with(".metadata.google.internal") {
        return Some("a cloud metadata service");
    }
    if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
        return Some("the server itself (loopback)");
    }
    None
}

/// Whether a `hosts` entry (already [`valid_host`]) may be listed: link-local and
/// metadata addresses and names never; loopback and private networks only when
/// `allow_private`. The error says why.
pub fn check_host_reach(entry: &str, allow_private: bool) -> std::result::Result<(), String> {
    let host = entry.rsplit_once(':').map_or(entry, |(h, _)| h);
    let why = |allow| match ipv4_literal(host) {
        Some(ip) => forbidden_address(ip.into(), allow),
        None => forbidden_name(host, allow),
    };
    if let Some(why) = why(true) {
        return Err(format!(
            "{entry:?} is {why}: never reachable from functions"
        ));
    }
    match why(allow_private) {
        Some(why) => Err(format!(
            "{entry:?} is {why}: listed only where the server allows private hosts"
        )),
        None => Ok(()),
    }
}

/// Checks a module's `hosts`: at most [`MAX_HOSTS`] entries, each [`valid_host`] and
/// allowed by [`check_host_reach`]. `INVALID_ARGUMENT` with `details.field = "hosts"`.
pub fn validate_hosts(hosts: &[String], allow_private: bool) -> Result<()> {
    if hosts.len() > MAX_HOSTS {
        return Err(Error::invalid_field(
            "hosts",
            format!("at most {MAX_HOSTS} hosts"),
        ));
    }
    for h in hosts {
        if !valid_host(h) {
            return Err(Error::invalid_field(
                "hosts",
                format!(
                    "{:?} is not `host` or `host:port` (a lower-case DNS name or an IPv4 address, port 1 to 65535)",
                    h.chars().take(260).collect::<String>()
                ),
            ));
        }
        check_host_reach(h, allow_private).map_err(|m| Error::invalid_field("hosts", m))?;
    }
    Ok(())
}

/// A cron pattern: 5 fields (minute hour day month weekday) or 6 (seconds first), or
/// one of the nicknames (`@hourly`, `@daily`, …). Seven fields (a year) are refused.
pub fn parse_schedule(s: &str) -> Result<croner::Cron> {
    let fields = s.split_whitespace().count();
    let nickname = fields == 1 && s.trim_start().starts_with('@');
    let parsed = if (5..=6).contains(&fields) || nickname {
        croner::parser::CronParser::builder()
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(s)
            .map_err(|e| e.to_string())
    } else {
        Err(format!("{fields} fields where 5 or 6 are expected"))
    };
    parsed.map_err(|e| {
        Error::invalid(format!(
            "invalid schedule {:?}: {e} (cron: minute hour day month weekday, optionally seconds first)",
            s.chars().take(200).collect::<String>()
        ))
    })
}

impl Settings {
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    pub fn memory_mb(&self) -> u64 {
        self.memory_mb.unwrap_or(DEFAULT_MEMORY_MB)
    }

    /// Who may call `export`.
    pub fn access(&self, export: &str) -> Access {
        let s = self
            .exports
            .get(export)
            .and_then(|e| e.access.as_deref())
            .or(self.access.as_deref())
            .unwrap_or("users");
        Access::parse(s).unwrap_or(Access::Nobody)
    }

    /// Checks everything but the export names (which need the compiled module), with
    /// private hosts refused.
    pub fn validate(&self) -> Result<()> {
        self.validate_with(false)
    }

    /// [`Settings::validate`] with the private-hosts policy given: `allow_private_hosts`
    /// lets `hosts` name loopback and private networks (never link-local or metadata).
    pub fn validate_with(&self, allow_private_hosts: bool) -> Result<()> {
        if let Some(a) = &self.access {
            Access::parse(a)?;
        }
        for (name, e) in &self.exports {
            if !valid_export_name(name) {
                return Err(Error::invalid_field(
                    "exports",
                    format!("{name:?} is not an export name"),
                ));
            }
            if let Some(a) = &e.access {
                Access::parse(a).map_err(|e| {
                    e.with_details(json!({"field": format!("exports.{name}.access")}))
                })?;
            }
            if let Some(s) = &e.schedule {
                parse_schedule(s).map_err(|e| {
                    e.with_details(json!({"field": format!("exports.{name}.schedule")}))
                })?;
            }
        }
        if let Some(t) = self.timeout_ms
            && !(10..=MAX_TIMEOUT_MS).contains(&t)
        {
            return Err(Error::invalid_field(
                "timeout_ms",
                format!("timeout_ms is 10 to {MAX_TIMEOUT_MS}"),
            ));
        }
        if let Some(m) = self.memory_mb
            && !(8..=MAX_MEMORY_MB).contains(&m)
        {
            return Err(Error::invalid_field(
                "memory_mb",
                format!("memory_mb is 8 to {MAX_MEMORY_MB}"),
            ));
        }
        if self.secrets.len() > MAX_SECRETS || self.secrets.iter().any(|s| !valid_secret_name(s)) {
            return Err(Error::invalid_field(
                "secrets",
                format!("at most {MAX_SECRETS} names of A-Z 0-9 _, starting with a letter"),
            ));
        }
        validate_hosts(&self.hosts, allow_private_hosts)
    }

    /// The schedules of the module's exports.
    pub fn schedules(&self) -> Vec<(String, String)> {
        self.exports
            .iter()
            .filter_map(|(n, e)| e.schedule.clone().map(|s| (n.clone(), s)))
            .collect()
    }
}

pub fn check_module_name(m: &str) -> Result<()> {
    if valid_module_name(m) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "module",
            "module names are 1 to 64 of a-z 0-9 _ -, starting with a letter",
        ))
    }
}

/// How a module is shown (without its source).
pub fn view(name: &str, attrs: &serde_json::Map<String, Value>) -> Value {
    let settings: Settings = attrs
        .get("settings")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let exports: Vec<String> = attrs
        .get("exports")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let exports: Vec<Value> = exports
        .iter()
        .map(|e| {
            let mut v = json!({"name": e, "access": settings.access(e).as_string()});
            if let Some(s) = settings.exports.get(e).and_then(|x| x.schedule.clone()) {
                v["schedule"] = json!(s);
            }
            v
        })
        .collect();
    json!({
        "name": name,
        "version": attrs.get("version").cloned().unwrap_or(json!(0)),
        "exports": exports,
        "access": settings.access.clone().unwrap_or_else(|| "users".into()),
        "timeout_ms": settings.timeout_ms(),
        "memory_mb": settings.memory_mb(),
        "secrets": settings.secrets,
        "hosts": settings.hosts,
        "source_bytes": attrs.get("source_bytes").cloned().unwrap_or(json!(0)),
        "sha256": attrs.get("sha256").cloned().unwrap_or(json!("")),
        // Stored in epoch ms, shown in RFC 3339 like every time the API answers.
        "deployed_at": rfc3339(attrs.get("deployed_at").and_then(Value::as_i64).unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        let anon = Caller::Anonymous;
        let alice = Caller::test_user("01hx0000000000000000000001", &["staff"]);
        let bob = Caller::test_user("01hx0000000000000000000002", &[]);
        let admin = Caller::AdminKey;
        let code = |a: &Access, c: &Caller| a.check(c).err().map(|e| e.code_str().to_string());
        let staff = Access::parse("group:staff").unwrap();
        assert_eq!(code(&Access::Anyone, &anon), None);
        assert_eq!(
            code(&Access::Users, &anon).as_deref(),
            Some("UNAUTHENTICATED")
        );
        assert_eq!(code(&Access::Users, &bob), None);
        assert_eq!(code(&staff, &alice), None);
        assert_eq!(code(&staff, &bob).as_deref(), Some("FUNCTION_FORBIDDEN"));
        assert_eq!(code(&staff, &admin), None);
        assert_eq!(
            code(&Access::Admins, &bob).as_deref(),
            Some("FUNCTION_FORBIDDEN")
        );
        assert_eq!(code(&Access::Admins, &admin), None);
        for c in [&anon, &bob, &admin] {
            assert_eq!(
                code(&Access::Nobody, c).as_deref(),
                Some("FUNCTION_FORBIDDEN")
            );
        }
        assert!(Access::parse("group:Bad").is_err());
        assert!(Access::parse("everyone").is_err());
    }

    #[test]
    fn settings_are_checked() {
        let ok: Settings = serde_json::from_value(json!({
            "access": "anyone", "exports": {"tick": {"schedule": "*/5 * * * *", "access": "nobody"}},
            "timeout_ms": 1000, "memory_mb": 16, "secrets": ["API_KEY"], "hosts": ["api.example.com", "127.0.0.1:8080"],
        }))
        .unwrap();
        assert!(ok.validate_with(true).is_ok());
        assert_eq!(
            ok.validate_with(false).unwrap_err().details["field"],
            "hosts",
            "127.0.0.1 needs private hosts allowed"
        );
        assert_eq!(ok.access("tick"), Access::Nobody);
        assert_eq!(ok.access("other"), Access::Anyone);
        for bad in [
            json!({"timeout_ms": 0}),
            json!({"timeout_ms": 60_000}),
            json!({"memory_mb": 4}),
            json!({"secrets": ["lower"]}),
            json!({"hosts": ["https://x.com"]}),
            json!({"hosts": ["x.com/path"]}),
            json!({"exports": {"f": {"schedule": "every minute"}}}),
            json!({"exports": {"1bad": {}}}),
            json!({"access": "root"}),
        ] {
            let s: Settings = serde_json::from_value(bad.clone()).unwrap();
            assert!(s.validate().is_err(), "{bad}");
        }
    }

    fn field_of(s: &Settings, allow_private: bool) -> Option<String> {
        s.validate_with(allow_private)
            .err()
            .map(|e| e.details["field"].as_str().unwrap_or("").to_string())
    }

    fn hosts(h: &[&str]) -> Settings {
        Settings {
            hosts: h.iter().map(|s| s.to_string()).collect(),
            ..Settings::default()
        }
    }

    #[test]
    fn hosts_are_dns_names_or_ipv4_addresses() {
        for good in [
            "api.example.com",
            "api.example.com:8443",
            "x-1.example.cn",
            "xn--fiqs8s.cn",
            "8.8.8.8",
            "8.8.8.8:53",
            "a",
        ] {
            assert!(valid_host(good), "{good}");
            assert_eq!(field_of(&hosts(&[good]), false), None, "{good}");
        }
        for bad in [
            "..",
            "-",
            ".",
            "a..b",
            ".example.com",
            "example.com.",
            "-a.example.com",
            "a-.example.com",
            "API.example.com",
            "a_b.example.com",
            "1.2.3",
            "999.1.1.1",
            "01.2.3.4",
            "1.2.3.4.5",
            "example.com:0",
            "example.com:65536",
            "example.com:",
            "example.com:+80",
            ":80",
            "[::1]",
            "::1",
            &"a".repeat(64),
            &format!("{}.com", vec!["a".repeat(60); 5].join(".")),
        ] {
            assert!(!valid_host(bad), "{bad}");
            assert_eq!(
                field_of(&hosts(&[bad]), true).as_deref(),
                Some("hosts"),
                "{bad}"
            );
        }
    }

    #[test]
    fn metadata_and_link_local_hosts_are_never_allowed_private_ones_only_when_asked() {
        for never in [
            "169.254.169.254",
            "169.254.169.254:80",
            "169.254.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "metadata.google.internal",
            "metadata",
        ] {
            for allow in [false, true] {
                let e = hosts(&[never]).validate_with(allow).unwrap_err();
                assert_eq!(e.code_str(), "INVALID_ARGUMENT");
                assert_eq!(e.details["field"], "hosts", "{never}");
            }
        }
        for private in [
            "localhost",
            "localhost:8787",
            "api.localhost",
            "127.0.0.1",
            "127.1.2.3:9000",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
        ] {
            assert_eq!(
                field_of(&hosts(&[private]), false).as_deref(),
                Some("hosts"),
                "{private}"
            );
            assert_eq!(field_of(&hosts(&[private]), true), None, "{private}");
        }
        for public in [
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "localhost.example.com",
        ] {
            assert_eq!(field_of(&hosts(&[public]), false), None, "{public}");
        }
        use std::net::IpAddr;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(forbidden_address(ip("fd00:ec2::254"), true).is_some());
        assert!(forbidden_address(ip("fe80::1"), true).is_some());
        assert!(forbidden_address(ip("::ffff:169.254.169.254"), true).is_some());
        assert!(forbidden_address(ip("::1"), false).is_some());
        assert!(forbidden_address(ip("::1"), true).is_none());
        assert!(forbidden_address(ip("fd12::1"), false).is_some());
        assert!(forbidden_address(ip("2001:db8::1"), false).is_none());
    }

    #[test]
    fn schedules_have_five_or_six_fields() {
        for good in [
            "*/5 * * * *",
            "0 */10 * * * *",
            "0 0 1 1 *",
            "@hourly",
            "@daily",
        ] {
            assert!(parse_schedule(good).is_ok(), "{good}");
        }
        for bad in [
            "0 0 0 1 1 * 2030",
            "* * * * * * *",
            "* * * *",
            "*",
            "",
            "@sometimes",
        ] {
            let e = parse_schedule(bad).unwrap_err();
            assert_eq!(e.code_str(), "INVALID_ARGUMENT", "{bad}");
        }
        let seven: Settings = serde_json::from_value(json!({
            "exports": {"tick": {"schedule": "0 0 0 1 1 * 2030"}}
        }))
        .unwrap();
        assert_eq!(
            seven.validate_with(false).unwrap_err().details["field"],
            "exports.tick.schedule"
        );
    }
}
