//! Cloud functions: an app's own server code, one ES module per name, called by clients
//! (`POST /v1/fn/{module}/{export}`), by table hooks and by schedules. (Not AWS Lambda
//! functions: those are the top-level `functions/` crate, `yunqiao-lambda`. In this
//! crate "function" always means a cloud function.)
//!
//! The domain decides everything a call may do: who may call which export, the limits,
//! which secrets and hosts it may use, and the rights of each host call (the caller's by
//! default; the admin's only through `db.admin()`). The sandbox port runs the code.
//!
//! # Store layout
//!
//! * `fnmod` / `<module>` — the deployed head: `{version, settings, exports, source_bytes,
//!   sha256, deployed_at}`
//! * `fnv#<module>` / `<version, 10 digits>` — every version's source and settings
//! * `fnlog#<module>` / `<ms>#<random>` — recent calls, expiring after [`LOG_RETENTION_SECS`]
//! * `outbox` / `<id>` — after-hooks waiting to run (see [`outbox`])
//! * `fntick#<module>.<export>` / `<tick>` — schedule claims (see [`schedule`])

pub mod admission;
pub mod call_log;
pub mod host;
pub mod outbox;
pub mod redact;
pub mod sandbox;
pub mod schedule;
pub mod settings;
mod wechat_host;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::Digest;

use crate::auth::{Auth, Caller};
use crate::clock::{SharedClock, rfc3339};
use crate::keys;
use crate::kv::Kv;
use crate::live::Live;
use crate::store::{Cond, Item, ItemStore, Query, StoreError, WriteOp};
use crate::tables::Tables;
use crate::{Code, Error, Result};
pub use host::{FetchRequest, FetchResponse, Outbound};
use host::{HostServices, INSIDE_A_RUN};
use sandbox::{Failure, Job, Limits, Outcome, Sandbox};
pub use settings::{Access, ModuleInput, Settings};

/// How long call logs are kept.
pub const LOG_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Stack for a call's JavaScript.
pub const STACK_BYTES: usize = 1024 * 1024;
/// Versions of one module kept (older ones are deleted at deploy).
pub const MAX_VERSIONS: usize = 20;

/// Runs a future in the background (the local server); without one, work that could be
/// backgrounded is awaited (Lambda, where nothing runs after the answer).
pub type Spawner = Arc<dyn Fn(futures_util::future::BoxFuture<'static, ()>) + Send + Sync>;

/// Why a function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Call,
    Hook,
    Schedule,
    /// An event WeChat pushed (`wechat.push_function`).
    WeChatEvent,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Call => "call",
            Trigger::Hook => "hook",
            Trigger::Schedule => "schedule",
            Trigger::WeChatEvent => "wechat_event",
        }
    }
}

/// One run of one export.
pub struct Invocation {
    pub caller: Caller,
    pub module: String,
    pub export: String,
    pub args: Vec<Value>,
    pub trigger: Trigger,
    /// How many hooks deep this run is (0 for calls and schedules).
    pub depth: u8,
    pub request_id: String,
}

/// A module ready to run.
#[derive(Clone)]
struct Loaded {
    version: i64,
    settings: Arc<Settings>,
    exports: Arc<Vec<String>>,
    source: Arc<str>,
    source_hash: u64,
}

pub struct Functions {
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
    /// What runs' host calls reach (shared with each run's [`host::CallHost`]).
    services: Arc<HostServices>,
    sandbox: Arc<dyn Sandbox>,
    /// Modules ready to run by (module, version, sha256): a version never changes once
    /// written.
    loaded: Mutex<HashMap<(String, i64, String), Loaded>>,
    admission: Arc<admission::Admission>,
    spawner: Option<Spawner>,
    me: Weak<Functions>,
    /// When this process last looked for stranded outbox items (ms).
    last_sweep: std::sync::atomic::AtomicI64,
    /// Deployed heads by module (see [`crate::cache`]).
    heads: crate::cache::Cache<Option<Item>>,
    call_log: Arc<call_log::CallLog>,
}

/// A module that loads, with the exports it has: what [`Functions::check_module`] found,
/// ready for [`Functions::write_module`].
#[derive(Debug, Clone)]
pub struct CheckedModule {
    pub source: Arc<str>,
    pub settings: Settings,
    pub exports: Vec<String>,
    pub sha256: String,
}

/// Everything the service is built from.
pub struct FunctionsDeps {
    /// QR codes (`wechat.qrcode`); `None` where there are no files.
    pub qrcodes: Option<Arc<crate::wechat::qrcode::QrCodes>>,
    pub store: Arc<dyn ItemStore>,
    pub clock: SharedClock,
    pub auth: Arc<Auth>,
    pub tables: Arc<Tables>,
    pub kv: Arc<Kv>,
    pub live: Arc<Live>,
    pub sandbox: Arc<dyn Sandbox>,
    pub outbound: Arc<dyn Outbound>,
    pub secrets: HashMap<String, String>,
    pub spawner: Option<Spawner>,
    pub admission: admission::AdmissionConfig,
    pub allow_private_hosts: bool,
    pub freshness: crate::cache::Freshness,
}

fn module_not_found(m: &str) -> Error {
    Error::not_found(format!("no function module {m:?}"))
}

fn versions_pk(m: &str) -> String {
    format!("{}{m}", keys::FN_VERSIONS)
}

fn logs_pk(m: &str) -> String {
    format!("{}{m}", keys::FN_LOGS)
}

fn version_sk(v: i64) -> String {
    format!("{v:010}")
}

impl Functions {
    /// Builds the service and makes it the tables' hook runner.
    pub fn new(d: FunctionsDeps) -> Arc<Functions> {
        let f = Arc::new_cyclic(|me| Functions {
            call_log: call_log::CallLog::new(d.store.clone()),
            store: d.store,
            clock: d.clock,
            services: Arc::new(HostServices {
                wechat: d.auth.wechat().clone(),
                qrcodes: d.qrcodes,
                auth: d.auth,
                tables: d.tables,
                kv: d.kv,
                live: d.live,
                outbound: d.outbound,
                secrets: d.secrets,
                allow_private_hosts: d.allow_private_hosts,
            }),
            sandbox: d.sandbox,
            loaded: Mutex::new(HashMap::new()),
            admission: admission::Admission::new(d.admission),
            spawner: d.spawner,
            me: me.clone(),
            last_sweep: std::sync::atomic::AtomicI64::new(0),
            heads: crate::cache::Cache::new(d.freshness, 1024),
        });
        let runner: Arc<dyn crate::tables::HookRunner> = f.clone();
        f.services.tables.set_hooks(Arc::downgrade(&runner));
        f
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    /// Runs `fut` in the background if this process can, else awaits it.
    pub(crate) async fn background(&self, fut: futures_util::future::BoxFuture<'static, ()>) {
        match &self.spawner {
            Some(s) => s(fut),
            None => fut.await,
        }
    }

    fn this(&self) -> Result<Arc<Functions>> {
        self.me
            .upgrade()
            .ok_or_else(|| Error::internal("the function service is shutting down"))
    }

    // ---- deploy ----------------------------------------------------------------------

    /// Deploys a new version of a module (admins): compiled first, so a module that does
    /// not load is refused and the running version stays.
    pub async fn deploy(
        &self,
        caller: &Caller,
        module: &str,
        input: ModuleInput,
    ) -> Result<(Value, bool)> {
        caller.require_admin()?;
        let checked = self.check_module(module, input).await?;
        self.write_module(module, checked).await
    }

    /// What a deploy checks before it writes anything: the name, the source's size, the
    /// settings, and that the module loads and has every export its settings name.
    pub async fn check_module(&self, module: &str, input: ModuleInput) -> Result<CheckedModule> {
        settings::check_module_name(module)?;
        let (source, settings) = input.split();
        if source.len() > sandbox::MAX_SOURCE_BYTES {
            return Err(Error::new(
                Code::BodyTooLarge,
                format!(
                    "a module's source is at most {} bytes",
                    sandbox::MAX_SOURCE_BYTES
                ),
            ));
        }
        settings.validate_with(self.services.allow_private_hosts)?;
        let source: Arc<str> = Arc::from(source);
        let lim = limits(&settings);
        let _permit = self
            .admission
            .acquire(
                admission::Lane::System,
                settings.memory_mb() as usize,
                std::time::Instant::now() + lim.timeout,
            )
            .await?;
        let exports = self
            .sandbox
            .exports(source.clone(), lim)
            .await
            .map_err(|m| {
                Error::new(
                    Code::FunctionInvalid,
                    format!("the module does not load: {m}"),
                )
                .with_details(json!({"field": "source"}))
            })?;
        for name in settings.exports.keys() {
            if !exports.contains(name) {
                return Err(Error::invalid_field(
                    &format!("exports.{name}"),
                    format!("the module exports no function {name:?}"),
                ));
            }
        }
        let sha256 = hex::encode(sha2::Sha256::digest(source.as_bytes()));
        Ok(CheckedModule {
            source,
            settings,
            exports,
            sha256,
        })
    }

    /// The deployed head of a module (`None` when it has none): its version, sha256,
    /// settings and exports, without the source.
    pub async fn head(&self, module: &str) -> Result<Option<Map<String, Value>>> {
        settings::check_module_name(module)?;
        Ok(self
            .store
            .get(keys::FN_MODULES, module)
            .await?
            .map(|i| i.attrs))
    }

    /// A stored version of a module as it was checked when deployed: what an apply
    /// that failed writes back as the next version.
    pub async fn stored_module(&self, module: &str, version: i64) -> Result<CheckedModule> {
        let it = self
            .store
            .get(&versions_pk(module), &version_sk(version))
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("module {module:?} has no version {version}"))
            })?;
        let field = |k: &str| it.get(k).cloned().unwrap_or(Value::Null);
        let source: String = serde_json::from_value(field("source")).unwrap_or_default();
        Ok(CheckedModule {
            source: Arc::from(source),
            settings: serde_json::from_value(field("settings")).unwrap_or_default(),
            exports: serde_json::from_value(field("exports")).unwrap_or_default(),
            sha256: serde_json::from_value(field("sha256")).unwrap_or_default(),
        })
    }

    /// Writes a checked module as the next version. Answers its view and whether the
    /// module was created.
    pub async fn write_module(
        &self,
        module: &str,
        checked: CheckedModule,
    ) -> Result<(Value, bool)> {
        let CheckedModule {
            source,
            settings,
            exports,
            sha256: sha,
        } = checked;
        let now = self.clock.now_ms();
        for _ in 0..5 {
            let head = self.store.get(keys::FN_MODULES, module).await?;
            let prev = head
                .as_ref()
                .and_then(|h| h.get("version"))
                .and_then(Value::as_i64);
            let version = prev.unwrap_or(0) + 1;
            let mut attrs = Map::new();
            attrs.insert("version".into(), json!(version));
            attrs.insert(
                "settings".into(),
                serde_json::to_value(&settings).unwrap_or(json!({})),
            );
            attrs.insert("exports".into(), json!(exports));
            attrs.insert("source_bytes".into(), json!(source.len()));
            attrs.insert("sha256".into(), json!(sha));
            attrs.insert("deployed_at".into(), json!(now));
            let mut ver = attrs.clone();
            ver.insert("source".into(), json!(&*source));
            let cond = match prev {
                None => Cond::NotExists,
                Some(v) => Cond::eq("version", v),
            };
            let ops = vec![
                WriteOp::Put {
                    item: Item::new(keys::FN_MODULES, module, attrs.clone()),
                    cond: Some(cond),
                },
                WriteOp::Put {
                    item: Item::new(versions_pk(module), version_sk(version), ver),
                    cond: Some(Cond::NotExists),
                },
            ];
            let r = self.store.transact(ops).await;
            self.heads.forget(module);
            match r {
                Ok(()) => {
                    self.prune_versions(module, version).await;
                    return Ok((settings::view(module, &attrs), prev.is_none()));
                }
                Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. }) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "the module is being deployed concurrently; retry",
        ))
    }

    async fn prune_versions(&self, module: &str, latest: i64) {
        let oldest_kept = latest - MAX_VERSIONS as i64;
        if oldest_kept < 1 {
            return;
        }
        let q = Query::partition(versions_pk(module))
            .range(crate::store::SkRange::Lt(version_sk(oldest_kept + 1)))
            .limit(50);
        if let Ok(page) = self.store.query(q).await {
            for it in page.items {
                let _ = self.store.delete(&it.pk, &it.sk, None).await;
            }
        }
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<Value>> {
        caller.require_admin()?;
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition(keys::FN_MODULES).limit(1000).after(cursor))
                .await?;
            out.extend(
                page.items
                    .iter()
                    .map(|it| settings::view(&it.sk, &it.attrs)),
            );
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// Every deployed module with its settings (as a project file gives them) and its
    /// source, by name (export).
    pub async fn dump_modules(&self) -> Result<Vec<(String, Value, String)>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(Query::partition(keys::FN_MODULES).limit(1000).after(cursor))
                .await?;
            for head in &page.items {
                let v = head.get("version").and_then(Value::as_i64).unwrap_or(0);
                let Some(it) = self
                    .store
                    .get(&versions_pk(&head.sk), &version_sk(v))
                    .await?
                else {
                    continue;
                };
                let settings = it
                    .get("settings")
                    .or_else(|| head.get("settings"))
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let source = it.str("source").unwrap_or_default().to_string();
                out.push((head.sk.clone(), settings, source));
            }
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// A module with its source; `version` for an older one.
    pub async fn get(&self, caller: &Caller, module: &str, version: Option<i64>) -> Result<Value> {
        caller.require_admin()?;
        settings::check_module_name(module).map_err(|_| module_not_found(module))?;
        let head = self
            .store
            .get(keys::FN_MODULES, module)
            .await?
            .ok_or_else(|| module_not_found(module))?;
        let v = version.unwrap_or_else(|| head.get("version").and_then(Value::as_i64).unwrap_or(0));
        let it = self
            .store
            .get(&versions_pk(module), &version_sk(v))
            .await?
            .ok_or_else(|| Error::not_found(format!("module {module:?} has no version {v}")))?;
        let mut view = settings::view(module, &it.attrs);
        view["source"] = it.get("source").cloned().unwrap_or(json!(""));
        view["current_version"] = head.get("version").cloned().unwrap_or(json!(0));
        Ok(view)
    }

    pub async fn versions(&self, caller: &Caller, module: &str) -> Result<Vec<Value>> {
        caller.require_admin()?;
        settings::check_module_name(module).map_err(|_| module_not_found(module))?;
        if self.store.get(keys::FN_MODULES, module).await?.is_none() {
            return Err(module_not_found(module));
        }
        let page = self
            .store
            .query(
                Query::partition(versions_pk(module))
                    .backwards()
                    .limit(MAX_VERSIONS),
            )
            .await?;
        Ok(page
            .items
            .iter()
            .map(|it| {
                json!({
                    "version": it.get("version"),
                    "deployed_at": rfc3339(it.get("deployed_at").and_then(Value::as_i64).unwrap_or(0)),
                    "source_bytes": it.get("source_bytes"), "sha256": it.get("sha256"),
                })
            })
            .collect())
    }

    /// Removes a module and its versions (its logs expire on their own).
    pub async fn delete(&self, caller: &Caller, module: &str) -> Result<()> {
        caller.require_admin()?;
        settings::check_module_name(module).map_err(|_| module_not_found(module))?;
        let r = self
            .store
            .delete(keys::FN_MODULES, module, Some(Cond::Exists))
            .await;
        self.heads.forget(module);
        r.map_err(|e| match e {
            StoreError::ConditionFailed => module_not_found(module),
            e => e.into(),
        })?;
        loop {
            let page = self
                .store
                .query(Query::partition(versions_pk(module)).limit(100))
                .await?;
            for it in &page.items {
                self.store.delete(&it.pk, &it.sk, None).await?;
            }
            if page.cursor.is_none() {
                return Ok(());
            }
        }
    }

    /// The most recent calls of a module, newest first.
    pub async fn logs(&self, caller: &Caller, module: &str, limit: usize) -> Result<Vec<Value>> {
        caller.require_admin()?;
        settings::check_module_name(module).map_err(|_| module_not_found(module))?;
        let limit = limit.clamp(1, 200);
        let pk = logs_pk(module);
        // Logs this process has not written yet count too: a call's log reads at once.
        let pending = self.call_log.pending_for(&pk);
        let page = self
            .store
            .query(Query::partition(&pk).backwards().limit(limit))
            .await?;
        let mut all: Vec<Item> = page.items;
        all.extend(pending);
        all.sort_by(|a, b| b.sk.cmp(&a.sk));
        all.dedup_by(|a, b| a.sk == b.sk);
        all.truncate(limit);
        Ok(all
            .into_iter()
            .map(|mut it| {
                // Stored in epoch ms (its key sorts by it), shown in RFC 3339.
                if let Some(at) = it.attrs.get("at").and_then(Value::as_i64) {
                    it.attrs.insert("at".into(), json!(rfc3339(at)));
                }
                Value::Object(it.attrs)
            })
            .collect())
    }

    // ---- calls -----------------------------------------------------------------------

    async fn load(&self, module: &str) -> Result<Loaded> {
        if settings::check_module_name(module).is_err() {
            return Err(module_not_found(module));
        }
        let now = self.clock.now_ms();
        let head = match self.heads.get(module, now) {
            Some(h) => h,
            None => {
                let h = self.store.get(keys::FN_MODULES, module).await?;
                self.heads.put(module, h.clone(), now);
                h
            }
        }
        .ok_or_else(|| module_not_found(module))?;
        let version = head.get("version").and_then(Value::as_i64).unwrap_or(0);
        // A version's source, settings and exports never change, but a module deleted
        // and deployed again starts at version 1 with other code: its hash tells them
        // apart.
        let sha = head.str("sha256").unwrap_or_default().to_string();
        let key = (module.to_string(), version, sha);
        if let Some(l) = self.loaded.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(l);
        }
        let settings: Settings = head
            .get("settings")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let exports: Vec<String> = head
            .get("exports")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let it = self
            .store
            .get(&versions_pk(module), &version_sk(version))
            .await?
            .ok_or_else(|| Error::internal(format!("module {module} lost version {version}")))?;
        let source: Arc<str> = Arc::from(it.str("source").unwrap_or_default());
        let loaded = Loaded {
            version,
            settings: Arc::new(settings),
            exports: Arc::new(exports),
            source_hash: hash_of(&source),
            source,
        };
        if let Ok(mut c) = self.loaded.lock() {
            // Only current versions are worth keeping.
            c.retain(|(m, _, _), _| m != module);
            c.insert(key, loaded.clone());
        }
        Ok(loaded)
    }

    /// `POST /v1/fn/{module}/{export}`: calls an export with the caller's identity.
    pub async fn call(
        &self,
        caller: &Caller,
        module: &str,
        export: &str,
        args: Vec<Value>,
        request_id: &str,
    ) -> Result<Value> {
        self.invoke(Invocation {
            caller: caller.clone(),
            module: module.to_string(),
            export: export.to_string(),
            args,
            trigger: Trigger::Call,
            depth: 0,
            request_id: request_id.to_string(),
        })
        .await
    }

    /// Runs one export: access (for calls), a place in the queue, limits, host, logs,
    /// and the answer.
    pub async fn invoke(&self, mut inv: Invocation) -> Result<Value> {
        let m = self.load(&inv.module).await?;
        if !m.exports.contains(&inv.export) {
            return Err(Error::not_found(format!(
                "module {:?} exports no function {:?}",
                inv.module, inv.export
            )));
        }
        if inv.trigger == Trigger::Call {
            m.settings.access(&inv.export).check(&inv.caller)?;
        }
        let lim = limits(&m.settings);
        let nested = INSIDE_A_RUN.try_with(|_| ()).is_ok();
        let t0 = std::time::Instant::now();
        let deadline = t0 + lim.timeout;
        // Client calls count against their caller's and module's limits; hooks and
        // schedules go first (a flood of calls never starves a hooked write).
        let lane = match inv.trigger {
            Trigger::Call => admission::Lane::Client {
                caller: caller_key(&inv.caller),
                module: inv.module.clone(),
            },
            Trigger::Hook if nested => admission::Lane::Nested,
            Trigger::Hook | Trigger::Schedule | Trigger::WeChatEvent => admission::Lane::System,
        };
        let _permit = self
            .admission
            .acquire(lane, m.settings.memory_mb() as usize, deadline)
            .await?;
        // The module's secrets, and every WeChat access token this process has held
        // (no module can read one; should one ever pass through, it is masked).
        let tokens = self.services.wechat.known_tokens();
        let redactor = redact::Redactor::new(
            m.settings
                .secrets
                .iter()
                .filter_map(|n| self.services.secrets.get(n).map(String::as_str))
                .chain(tokens.iter().map(String::as_str)),
        );
        let host = Arc::new(host::CallHost {
            services: self.services.clone(),
            caller: inv.caller.clone(),
            module: inv.module.clone(),
            settings: m.settings.clone(),
            depth: inv.depth,
        });
        let job = Job {
            module: inv.module.clone(),
            version: m.version,
            source: m.source.clone(),
            source_hash: m.source_hash,
            export: inv.export.clone(),
            args: std::mem::take(&mut inv.args),
            context: json!({
                "caller": inv.caller.server_view(),
                "request_id": inv.request_id,
                "module": inv.module,
                "export": inv.export,
                "trigger": inv.trigger.as_str(),
            }),
            // Time spent waiting for a worker counts against the call's limit.
            limits: Limits {
                timeout: deadline.saturating_duration_since(std::time::Instant::now()),
                ..lim
            },
            instance: instance_key(&inv.caller),
            nested,
        };
        let started = self.clock.now_ms();
        let mut outcome = self.sandbox.run(job, host).await;
        let duration_ms = t0.elapsed().as_secs_f64() * 1000.0;
        scrub(&mut outcome, &redactor);
        let answer = answer(&inv.module, &inv.export, &inv.request_id, &outcome.result);
        self.write_log(&inv, m.version, started, duration_ms, &outcome, &answer)
            .await;
        answer
    }

    async fn write_log(
        &self,
        inv: &Invocation,
        version: i64,
        started: i64,
        duration_ms: f64,
        outcome: &Outcome,
        answer: &Result<Value>,
    ) {
        let mut entry = Map::new();
        entry.insert("at".into(), json!(started));
        entry.insert("request_id".into(), json!(inv.request_id));
        entry.insert("export".into(), json!(inv.export));
        entry.insert("version".into(), json!(version));
        entry.insert("trigger".into(), json!(inv.trigger.as_str()));
        entry.insert(
            "caller".into(),
            match &inv.caller {
                Caller::User { user, .. } => json!(user.id),
                Caller::AdminKey => json!("admin"),
                Caller::Anonymous => json!("anonymous"),
            },
        );
        entry.insert(
            "duration_ms".into(),
            json!((duration_ms * 1000.0).round() / 1000.0),
        );
        entry.insert("logs".into(), json!(outcome.logs));
        match (answer, &outcome.result) {
            (Ok(_), _) => {
                entry.insert("outcome".into(), json!("ok"));
            }
            (Err(e), r) => {
                entry.insert("outcome".into(), json!(e.code_str()));
                // The log keeps the cause the client is not shown (already redacted).
                let msg = match r {
                    Err(Failure::Exception { message, stack }) => format!("{message}\n{stack}"),
                    Err(Failure::Host(h)) => {
                        let mut m = format!("uncaught {}: {}", h.code_str(), h.message);
                        if h.details.as_object().is_some_and(|d| !d.is_empty()) {
                            m.push_str(&format!(" {}", h.details));
                        }
                        m
                    }
                    Err(Failure::Invalid(m)) => m.clone(),
                    _ => e.message.clone(),
                };
                entry.insert("error".into(), json!(msg));
            }
        }
        let status = if answer.is_ok() { "ok" } else { "failed" };
        tracing::info!(
            module = %inv.module, export = %inv.export, trigger = inv.trigger.as_str(),
            request_id = %inv.request_id, duration_ms, outcome = status, "function ran"
        );
        let sk = format!("{started:013}#{:06x}", rand::random::<u32>() & 0xff_ffff);
        let mut item = Item::new(logs_pk(&inv.module), sk, entry);
        // A call's log must never be what fails it: trim what does not fit (only logs
        // and an error message can make it big).
        let may_be_big = !outcome.logs.is_empty() || answer.is_err();
        if may_be_big && serde_json::to_vec(&item.attrs).map_or(0, |v| v.len()) > 32_000 {
            item.attrs.insert(
                "logs".into(),
                json!([{"level": "warn", "message": "(logs too long to keep)"}]),
            );
        }
        let item = item.expiring_at(started / 1000 + LOG_RETENTION_SECS);
        if let Some(writer) = self.call_log.keep(item, self.spawner.is_some()).await {
            self.background(writer).await;
        }
    }
}

fn hash_of(source: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

fn limits(s: &Settings) -> Limits {
    Limits {
        timeout: Duration::from_millis(s.timeout_ms()),
        memory_bytes: (s.memory_mb() as usize) * 1024 * 1024,
        stack_bytes: STACK_BYTES,
    }
}

/// Who a client call counts against: a user, the admin, or every anonymous caller
/// together.
fn caller_key(c: &Caller) -> String {
    match c {
        Caller::User { user, .. } => format!("user:{}", user.id),
        Caller::AdminKey => "admin".into(),
        Caller::Anonymous => "anonymous".into(),
    }
}

/// Which evaluated module may serve a call: only the same caller's own (its module
/// state is that caller's alone); anonymous callers cannot be told apart, so each of
/// their calls gets a fresh one.
fn instance_key(c: &Caller) -> Option<String> {
    match c {
        Caller::Anonymous => None,
        c => Some(caller_key(c)),
    }
}

/// Longest log line kept (after redaction, so a cut never splits a secret past it).
const MAX_LOG_LINE: usize = 2000;

/// Secret values never leave in an answer, an error (its message and details) or a log
/// line, in any of the forms [`redact`] knows.
fn scrub(outcome: &mut Outcome, r: &redact::Redactor) {
    for l in &mut outcome.logs {
        r.clean(&mut l.message);
        redact::cut(&mut l.message, MAX_LOG_LINE);
    }
    if r.is_empty() {
        return;
    }
    match &mut outcome.result {
        Err(Failure::Refused {
            message,
            details,
            code,
            ..
        }) => {
            r.clean(message);
            r.clean(code);
            r.clean_value(details);
        }
        Err(Failure::Exception { message, stack }) => {
            r.clean(message);
            r.clean(stack);
        }
        Err(Failure::Host(e)) => {
            r.clean(&mut e.message);
            r.clean_value(&mut e.details);
        }
        Err(Failure::Invalid(m)) => r.clean(m),
        Ok(v) => r.clean_value(v),
        _ => {}
    }
}

/// What the client gets for a run.
fn answer(
    module: &str,
    export: &str,
    request_id: &str,
    r: &Result<Value, Failure>,
) -> Result<Value> {
    let rid = json!({"request_id": request_id});
    match r {
        Ok(v) => Ok(v.clone()),
        Err(Failure::Refused {
            code,
            message,
            status,
            details,
        }) => Err(Error::app(code, message, *status).with_details(details.clone())),
        // What the function let through: the rules' refusals, and a hook chain too deep.
        Err(Failure::Host(e))
            if (400..500).contains(&e.status()) || e.code == Code::HookDepthExceeded =>
        {
            Err(e.clone())
        }
        Err(Failure::Host(_)) | Err(Failure::Exception { .. }) => Err(Error::new(
            Code::FunctionFailed,
            format!("{module}.{export} failed; its logs have the details (request {request_id})"),
        )
        .with_details(rid)),
        Err(Failure::Timeout) => Err(Error::new(
            Code::FunctionTimeout,
            format!("{module}.{export} ran past its time limit"),
        )
        .with_details(rid)),
        Err(Failure::OutOfMemory) => Err(Error::new(
            Code::FunctionOutOfMemory,
            format!("{module}.{export} ran out of memory"),
        )
        .with_details(rid)),
        Err(Failure::StackOverflow) => Err(Error::new(
            Code::FunctionStackOverflow,
            format!("{module}.{export} recursed too deep"),
        )
        .with_details(rid)),
        Err(Failure::ResultTooLarge { bytes }) => Err(Error::new(
            Code::FunctionResultTooLarge,
            format!(
                "{module}.{export} answered {bytes} bytes; the limit is {}",
                sandbox::MAX_RESULT_BYTES
            ),
        )
        .with_details(rid)),
        // The module's own top level failed (or it lost an export): the log has why.
        Err(Failure::Invalid(_)) => Err(Error::new(
            Code::FunctionFailed,
            format!("{module}.{export} failed; its logs have the details (request {request_id})"),
        )
        .with_details(rid)),
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
