//! The host API a module reaches through `import … from "yunqiao"`: one JSON operation
//! per call. Every operation goes through the same domain services (and so the same rule
//! checks) as HTTP does, with the caller's rights unless the module asked for the
//! admin's (`db.admin()`, `admin: true` in the operation).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::sandbox::Host;
use super::settings::Settings;
use crate::auth::{Auth, Caller};
use crate::clock::rfc3339;
use crate::kv::{Kv, ListParams, PutEntry};
use crate::live::Live;
use crate::tables::{BatchOp, QuerySpec, Tables};
use crate::{Code, Error, Result};

/// The services host calls reach — the ones HTTP reaches — and what they may use.
pub struct HostServices {
    pub auth: Arc<Auth>,
    pub tables: Arc<Tables>,
    pub kv: Arc<Kv>,
    pub live: Arc<Live>,
    pub outbound: Arc<dyn Outbound>,
    /// WeChat's server API with the app's token (the `wechat` module).
    pub wechat: Arc<crate::wechat::WxApi>,
    /// QR codes (`wechat.qrcode`); `None` where there are no files.
    pub qrcodes: Option<Arc<crate::wechat::qrcode::QrCodes>>,
    pub secrets: HashMap<String, String>,
    /// Modules may list (and reach) loopback and private-network hosts.
    pub allow_private_hosts: bool,
}

tokio::task_local! {
    /// Set while a run's host call is served: a hook fired from inside it is nested.
    pub(crate) static INSIDE_A_RUN: ();
}

/// Largest response body `http.fetch` reads.
pub const MAX_FETCH_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    /// Bytes as they are: text a module sent is its UTF-8.
    pub body: Option<Vec<u8>>,
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    /// The body's bytes as they came.
    pub body: Vec<u8>,
}

/// The outbound HTTP port: reached only for hosts a module's settings allow. Redirects
/// are not followed (a 3xx is answered as it is), so an allowed host cannot send a call
/// elsewhere.
#[async_trait]
pub trait Outbound: Send + Sync {
    async fn fetch(&self, req: FetchRequest) -> std::result::Result<FetchResponse, String>;
}

/// No outbound network at all.
pub struct NoOutbound;

#[async_trait]
impl Outbound for NoOutbound {
    async fn fetch(&self, _req: FetchRequest) -> std::result::Result<FetchResponse, String> {
        Err("outbound HTTP is not available here".into())
    }
}

/// `http(s)://host[:port]/…` → (`host`, port). User info is refused.
pub fn url_authority(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    if auth.is_empty() || auth.contains('@') || auth.contains('[') {
        return None;
    }
    let (host, port) = match auth.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (auth, default),
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Whether a settings' `hosts` entry admits this authority: `host` admits every port of
/// it, `host:port` that port.
pub fn host_allowed(hosts: &[String], host: &str, port: u16) -> bool {
    hosts.iter().any(|h| match h.rsplit_once(':') {
        Some((hh, p)) => hh == host && p.parse::<u16>().ok() == Some(port),
        None => h == host,
    })
}

pub(super) struct CallHost {
    pub services: Arc<HostServices>,
    pub caller: Caller,
    pub module: String,
    pub settings: Arc<Settings>,
    pub depth: u8,
}

fn args<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::invalid(format!("bad arguments: {e}")))
}

fn obj(v: Value, what: &str) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Error::invalid(format!("{what} must be an object"))),
    }
}

#[derive(Deserialize)]
struct Rights {
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
struct TableArgs {
    table: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    patch: Option<Value>,
    /// The record's version a write is conditional on (`_v`, as on HTTP).
    #[serde(default, rename = "_v")]
    v: Option<i64>,
    #[serde(default)]
    expand: Vec<String>,
    #[serde(default)]
    query: Option<Value>,
}

#[derive(Deserialize)]
struct KvArgs {
    ns: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    ttl: Option<i64>,
    /// The entry's version a write is conditional on (`_v`, as a record's).
    #[serde(default, rename = "_v")]
    v: Option<i64>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

/// An entry as modules see it: the HTTP API's view (`_v`, times in RFC 3339), with
/// `expires_at` `null` rather than absent for a permanent entry.
fn entry_view(e: &crate::kv::Entry) -> Value {
    json!({
        "key": e.key, "value": e.value, "_v": e.version,
        "created_at": rfc3339(e.created_at), "updated_at": rfc3339(e.updated_at),
        "expires_at": e.expires_at.map(rfc3339),
    })
}

fn need<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| Error::invalid(format!("{what} is required")))
}

#[async_trait]
impl Host for CallHost {
    async fn call(&self, op: &str, a: Value) -> Result<Value> {
        // Hooks this call fires are nested in the run that made it (see `Lane::Nested`).
        INSIDE_A_RUN.scope((), self.serve(op, a)).await
    }
}

impl CallHost {
    async fn serve(&self, op: &str, a: Value) -> Result<Value> {
        let admin = serde_json::from_value::<Rights>(a.clone()).is_ok_and(|r| r.admin);
        let caller = if admin {
            Caller::AdminKey
        } else {
            self.caller.clone()
        };
        let f = &self.services;
        let depth = self.depth;
        match op {
            "db.create" => {
                let t: TableArgs = args(a)?;
                let data = obj(need(t.data, "data")?, "data")?;
                f.tables.create_at(&caller, &t.table, data, depth).await
            }
            "db.get" => {
                let t: TableArgs = args(a)?;
                f.tables
                    .get(&caller, &t.table, &need(t.id, "id")?, &t.expand)
                    .await
            }
            "db.update" => {
                let t: TableArgs = args(a)?;
                let patch = obj(need(t.patch, "patch")?, "patch")?;
                f.tables
                    .update_at(&caller, &t.table, &need(t.id, "id")?, patch, t.v, depth)
                    .await
            }
            "db.delete" => {
                let t: TableArgs = args(a)?;
                let id = need(t.id, "id")?;
                match t.v {
                    // Only a batch deletes at a version (as the SDK's `remove(id, {_v})`).
                    Some(v) => {
                        let op = BatchOp::Delete {
                            table: t.table,
                            id,
                            v: Some(v),
                        };
                        f.tables.batch_at(&caller, vec![op], depth).await?;
                    }
                    None => f.tables.delete_at(&caller, &t.table, &id, depth).await?,
                }
                Ok(json!({"deleted": true}))
            }
            "db.query" => {
                let t: TableArgs = args(a)?;
                let spec: QuerySpec = serde_json::from_value(t.query.unwrap_or(json!({})))
                    .map_err(|e| Error::new(Code::InvalidQuery, format!("bad query: {e}")))?;
                let r = f.tables.query(&caller, &t.table, spec).await?;
                serde_json::to_value(r).map_err(|e| Error::internal(e.to_string()))
            }
            "db.batch" => {
                #[derive(Deserialize)]
                struct B {
                    ops: Vec<BatchOp>,
                }
                let b: B = args(a)?;
                Ok(json!(f.tables.batch_at(&caller, b.ops, depth).await?))
            }
            "kv.get" | "kv.exists" | "kv.set" | "kv.delete" | "kv.list" => {
                self.kv(op, &caller, args(a)?).await
            }
            "users.get" => {
                #[derive(Deserialize)]
                struct U {
                    id: String,
                }
                let u: U = args(a)?;
                let user = f.auth.get_user(&u.id).await?;
                let mut v = crate::live::public_profile(&user);
                v["groups"] = json!(user.groups);
                Ok(v)
            }
            "users.addToGroup" | "users.removeFromGroup" => {
                #[derive(Deserialize)]
                struct G {
                    id: String,
                    group: String,
                }
                let g: G = args(a)?;
                let user = f
                    .auth
                    .change_group(&caller, &g.id, &g.group, op == "users.addToGroup")
                    .await?;
                let mut v = crate::live::public_profile(&user);
                v["groups"] = json!(user.groups);
                Ok(v)
            }
            // Events come from the function itself (server code), not from the caller.
            "events.publish" => {
                #[derive(Deserialize)]
                struct P {
                    topic: String,
                    #[serde(default)]
                    data: Value,
                }
                let p: P = args(a)?;
                let r = f.live.publish(&Caller::AdminKey, &p.topic, p.data).await?;
                Ok(json!({"seq": r.seq, "delivered": r.delivery.sent}))
            }
            "events.send" => {
                #[derive(Deserialize)]
                struct S {
                    user: String,
                    cmd: String,
                    #[serde(default)]
                    body: Value,
                }
                let s: S = args(a)?;
                if s.cmd.is_empty() || s.cmd.len() > 64 {
                    return Err(Error::invalid_field("cmd", "cmd is 1 to 64 characters"));
                }
                let frame = json!({
                    "type": "message", "cmd": s.cmd, "body": s.body,
                    "from": {"function": self.module},
                });
                if serde_json::to_vec(&frame).map_or(usize::MAX, |v| v.len())
                    > crate::live::MAX_PUSH_BYTES
                {
                    return Err(Error::new(Code::BodyTooLarge, "the message is too large"));
                }
                let d = f.live.send_to_user(&s.user, &frame).await?;
                Ok(json!({"delivered": d.sent}))
            }
            "secrets.get" => {
                #[derive(Deserialize)]
                struct N {
                    name: String,
                }
                let n: N = args(a)?;
                if !self.settings.secrets.contains(&n.name) {
                    return Err(Error::forbidden(format!(
                        "this module may not read secret {:?}; list it in the module's secrets",
                        n.name
                    )));
                }
                match f.secrets.get(&n.name) {
                    Some(v) => Ok(json!(v)),
                    None => Err(Error::not_found(format!(
                        "secret {:?} is not configured on this server",
                        n.name
                    ))),
                }
            }
            "http.fetch" => self.fetch(a).await,
            "wechat.msgSecCheck"
            | "wechat.mediaCheck"
            | "wechat.subscribeMessage.send"
            | "wechat.call"
            | "wechat.qrcode" => {
                let services = super::wechat_host::Services {
                    auth: &self.services.auth,
                    wechat: &self.services.wechat,
                    qrcodes: self.services.qrcodes.as_deref(),
                };
                super::wechat_host::serve(services, &self.caller, op, a).await
            }
            _ => Err(Error::invalid(format!("no host operation {op:?}"))),
        }
    }

    async fn kv(&self, op: &str, caller: &Caller, k: KvArgs) -> Result<Value> {
        let kv = &self.services.kv;
        match op {
            "kv.get" => match kv.get(caller, &k.ns, &need(k.key, "key")?, None).await {
                Ok(e) => Ok(e.value),
                Err(e) if e.code == Code::NotFound && e.details.get("key").is_some() => {
                    Ok(Value::Null)
                }
                Err(e) => Err(e),
            },
            "kv.exists" => Ok(json!(
                kv.exists(caller, &k.ns, &need(k.key, "key")?, None).await?
            )),
            "kv.set" => {
                let input = PutEntry {
                    value: Some(k.value.unwrap_or(Value::Null)),
                    ttl: k.ttl,
                    version: k.v,
                    create_only: false,
                };
                let (e, _) = kv
                    .put(caller, &k.ns, &need(k.key, "key")?, None, input)
                    .await?;
                Ok(entry_view(&e))
            }
            "kv.delete" => {
                kv.delete(caller, &k.ns, &need(k.key, "key")?, None, k.v)
                    .await?;
                Ok(json!({"deleted": true}))
            }
            _ => {
                let params = ListParams {
                    prefix: k.prefix,
                    limit: k.limit,
                    cursor: k.cursor,
                };
                let (_, page) = kv.list(caller, &k.ns, None, params).await?;
                Ok(json!({
                    "items": page.items.iter().map(entry_view).collect::<Vec<_>>(),
                    "cursor": page.cursor,
                }))
            }
        }
    }

    async fn fetch(&self, a: Value) -> Result<Value> {
        #[derive(Deserialize)]
        struct F {
            url: String,
            #[serde(default)]
            method: Option<String>,
            #[serde(default)]
            headers: BTreeMap<String, String>,
            #[serde(default)]
            body: Option<String>,
            /// Bytes (a `Uint8Array` or `ArrayBuffer` body), base64.
            #[serde(default)]
            body_base64: Option<String>,
        }
        let r: F = args(a)?;
        let body = match (r.body, r.body_base64) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_field(
                    "body",
                    "give body or body_base64, not both",
                ));
            }
            (Some(t), None) => Some(t.into_bytes()),
            (None, Some(b)) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| {
                        Error::invalid_field("body_base64", "body_base64 is not base64")
                    })?,
            ),
            (None, None) => None,
        };
        let Some((host, port)) = url_authority(&r.url) else {
            return Err(Error::invalid_field(
                "url",
                "http.fetch takes an http:// or https:// URL without user info",
            ));
        };
        // An address literal is checked here; a name where it resolves (the outbound
        // adapter's resolver).
        if let Ok(ip) = host.parse::<std::net::IpAddr>()
            && let Some(why) =
                super::settings::forbidden_address(ip, self.services.allow_private_hosts)
        {
            return Err(
                Error::forbidden(format!("http.fetch may not reach {host}: {why}"))
                    .with_details(json!({"host": host, "port": port})),
            );
        }
        if body.as_ref().is_some_and(|b| b.len() > MAX_FETCH_BYTES) {
            return Err(Error::new(
                Code::BodyTooLarge,
                format!("an http.fetch body is at most {MAX_FETCH_BYTES} bytes"),
            ));
        }
        if !host_allowed(&self.settings.hosts, &host, port) {
            return Err(Error::forbidden(format!(
                "this module may not reach {host}:{port}; list it in the module's hosts"
            ))
            .with_details(json!({"host": host, "port": port})));
        }
        let method = r
            .method
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            return Err(Error::invalid_field(
                "method",
                "method is GET, POST, PUT, PATCH, DELETE or HEAD",
            ));
        }
        let req = FetchRequest {
            url: r.url,
            method,
            headers: r.headers,
            body,
            timeout: std::time::Duration::from_millis(self.settings.timeout_ms()),
        };
        match self.services.outbound.fetch(req).await {
            // `body` is the text (invalid UTF-8 replaced, as a browser's `text()` does);
            // bytes that are not UTF-8 come as they are in `body_base64` too, for
            // `arrayBuffer()` and `bytes()`.
            Ok(resp) => {
                let mut out = json!({"status": resp.status, "headers": resp.headers});
                match String::from_utf8(resp.body) {
                    Ok(text) => out["body"] = json!(text),
                    Err(e) => {
                        let bytes = e.into_bytes();
                        out["body"] = json!(String::from_utf8_lossy(&bytes));
                        out["body_base64"] =
                            json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
                    }
                }
                Ok(out)
            }
            Err(m) => Err(
                Error::new(Code::FetchFailed, format!("http.fetch failed: {m}"))
                    .with_details(json!({"host": host})),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_and_allowed_hosts() {
        assert_eq!(
            url_authority("https://API.example.com/x?y"),
            Some(("api.example.com".into(), 443))
        );
        assert_eq!(
            url_authority("http://127.0.0.1:8080"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(url_authority("http://user@evil.com/"), None);
        assert_eq!(url_authority("ftp://x.com/"), None);
        assert_eq!(url_authority("file:///etc/passwd"), None);
        let hosts = vec!["api.example.com".to_string(), "127.0.0.1:8080".to_string()];
        assert!(host_allowed(&hosts, "api.example.com", 443));
        assert!(host_allowed(&hosts, "127.0.0.1", 8080));
        assert!(!host_allowed(&hosts, "127.0.0.1", 8081));
        assert!(!host_allowed(&hosts, "evil.example.com", 443));
        assert!(!host_allowed(&hosts, "api.example.com.evil.com", 443));
    }
}
