//! What an admin deploys: a module's source and its settings, validated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::tables::hooks::{valid_export_name, valid_module_name};
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

/// `host` or `host:port`, lower case, no scheme or path.
pub fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (h, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

pub fn parse_schedule(s: &str) -> Result<croner::Cron> {
    s.parse::<croner::Cron>().map_err(|e| {
        Error::invalid(format!(
            "invalid schedule {s:?}: {e} (cron: minute hour day month weekday, optionally seconds first)"
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

    /// Checks everything but the export names (which need the compiled module).
    pub fn validate(&self) -> Result<()> {
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
        if self.hosts.len() > MAX_HOSTS || self.hosts.iter().any(|h| !valid_host(h)) {
            return Err(Error::invalid_field(
                "hosts",
                format!("at most {MAX_HOSTS} hosts, each `host` or `host:port` in lower case"),
            ));
        }
        Ok(())
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
        "deployed_at": attrs.get("deployed_at").cloned().unwrap_or(json!(0)),
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
        assert!(ok.validate().is_ok());
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
}
