//! Hooks: before-hooks run inside the write's request; after-hooks run from the outbox.
//!
//! An outbox item is written in the same transaction as the record change it is about,
//! so it exists exactly when the change committed. Then:
//!
//! 1. the writer hands it to [`Functions::process`] at once;
//! 2. a runner *claims* it with a conditional write (a lease a little longer than the
//!    hook's time limit), so only one runner runs it at a time;
//! 3. success deletes it; failure releases it with a backoff; after [`MAX_ATTEMPTS`] it
//!    stays, marked `dead`, for admins to see and retry;
//! 4. items nobody finished (a crash, a killed sandbox) are found by the next sweep: the
//!    next writer after [`SWEEP_EVERY_MS`], the schedule tick, or the server's start.
//!
//! A hook therefore runs once per committed change, unless a runner dies while running
//! it (then it runs again after the lease: hooks get `event.id` to deduplicate).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use futures_util::FutureExt;
use serde_json::{Map, Value, json};

use super::{Functions, Invocation, Trigger};
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::keys::OUTBOX;
use crate::store::{Cond, Query, StoreError, Update};
use crate::tables::HookRunner;
use crate::{Error, Result, ids};

pub const MAX_ATTEMPTS: i64 = 8;
/// How much longer than the hook's own time limit a claim lasts.
const LEASE_SLACK_MS: i64 = 5_000;
/// A writer looks for stranded items at most this often (per process).
pub const SWEEP_EVERY_MS: i64 = 30_000;
/// Retry delays: 1 s, 2 s, 4 s … at most 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    (1_000i64 << attempts.clamp(0, 20)).min(300_000)
}

/// How long an after-payment action (a record write, a message) may take.
const ACTION_TIMEOUT_MS: i64 = 10_000;

fn split(target: &str) -> Result<(&str, &str)> {
    target
        .split_once('.')
        .ok_or_else(|| Error::internal(format!("bad hook target {target:?}")))
}

#[async_trait]
impl HookRunner for Functions {
    async fn before(
        &self,
        target: &str,
        caller: &Caller,
        event: Value,
        depth: u8,
    ) -> Result<Option<Map<String, Value>>> {
        let (module, export) = split(target)?;
        let out = self
            .invoke(Invocation {
                caller: caller.clone(),
                module: module.to_string(),
                export: export.to_string(),
                args: vec![event],
                trigger: Trigger::Hook,
                depth,
                request_id: ids::new_id(self.clock().now_ms()),
            })
            .await?;
        Ok(match out {
            Value::Object(m) => Some(m),
            _ => None,
        })
    }

    async fn committed(&self, outbox: Vec<String>) {
        let Ok(me) = self.this() else {
            return;
        };
        let job = async move {
            for id in outbox {
                me.process(&id).await;
            }
            me.maybe_sweep().await;
        };
        self.background(job.boxed()).await;
    }
}

impl Functions {
    /// The caller a hook was fired by, as it is now.
    async fn hook_caller(&self, event: &Value) -> Caller {
        match event["caller"]["kind"].as_str() {
            Some("admin") => Caller::AdminKey,
            Some("user") => match event["caller"]["id"].as_str() {
                Some(id) => match self.services.auth.get_user(id).await {
                    Ok(user) => Caller::User {
                        user: std::sync::Arc::new(user),
                        session: String::new(),
                    },
                    Err(_) => Caller::Anonymous,
                },
                None => Caller::Anonymous,
            },
            _ => Caller::Anonymous,
        }
    }

    /// Claims, runs and settles one outbox item; quietly does nothing when it is gone,
    /// not due, or claimed by someone else.
    pub async fn process(&self, id: &str) {
        if let Err(e) = self.try_process(id).await {
            tracing::warn!(outbox = id, error = %e, "outbox item not processed");
        }
    }

    async fn try_process(&self, id: &str) -> Result<()> {
        let store = self.store();
        let Some(item) = store.get(OUTBOX, id).await? else {
            return Ok(());
        };
        let now = self.clock().now_ms();
        let num = |k: &str| item.get(k).and_then(Value::as_i64).unwrap_or(0);
        if item.get("dead").and_then(Value::as_bool) == Some(true)
            || num("next_at") > now
            || num("lease_until") > now
        {
            return Ok(());
        }
        let target = item.str("hook").unwrap_or_default().to_string();
        let action = item.get("action").cloned();
        let timeout = match &action {
            Some(_) => ACTION_TIMEOUT_MS,
            None => {
                let (module, _) = split(&target)?;
                self.load(module)
                    .await
                    .map(|m| m.settings.timeout_ms() as i64)
                    .unwrap_or(super::settings::DEFAULT_TIMEOUT_MS as i64)
            }
        };
        let attempts = num("attempts");
        let token = ids::new_id(now);
        let claim = Update::default()
            .set("lease_until", now + timeout + LEASE_SLACK_MS)
            .set("lease", token.clone())
            .add("attempts", 1);
        let free = Cond::And(vec![
            Cond::eq("attempts", attempts),
            Cond::Or(vec![
                Cond::AttrNotExists("lease_until".into()),
                Cond::Le("lease_until".into(), json!(now)),
            ]),
        ]);
        match store.update(OUTBOX, id, claim, Some(free)).await {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let event = item.get("event").cloned().unwrap_or(Value::Null);
        let caller = self.hook_caller(&event).await;
        let depth = num("depth").clamp(0, u8::MAX as i64) as u8;
        let ran = if let Some(a) = &action {
            self.run_action(a).await
        } else if depth > crate::tables::hooks::MAX_HOOK_DEPTH {
            Err(crate::tables::hooks::depth_exceeded())
        } else {
            let (module, export) = split(&target)?;
            self.invoke(Invocation {
                caller,
                module: module.to_string(),
                export: export.to_string(),
                args: vec![event],
                trigger: Trigger::Hook,
                depth,
                request_id: id.to_string(),
            })
            .await
            .map(|_| ())
        };
        // An order's after-payment item leaves a line in its history, run or failed.
        if let Some(no) = item.str("order") {
            let mut line = Map::new();
            line.insert("kind".into(), json!("action"));
            line.insert("action".into(), json!(item.str("name").unwrap_or(&target)));
            line.insert("attempt".into(), json!(attempts + 1));
            line.insert("ok".into(), json!(ran.is_ok()));
            if let Err(e) = &ran {
                line.insert(
                    "error".into(),
                    json!(format!("{}: {}", e.code_str(), e.message)),
                );
            }
            let now = self.clock().now_ms();
            if let Err(e) = crate::pay::orders::record_history(store.as_ref(), no, now, line).await
            {
                tracing::warn!(error = %e, "pay history not written");
            }
        }
        let mine = Cond::eq("lease", token);
        match ran {
            Ok(_) => match store.delete(OUTBOX, id, Some(mine)).await {
                Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
                Err(e) => Err(e.into()),
            },
            Err(e) => {
                let attempts = attempts + 1;
                let later = self.clock().now_ms() + backoff_ms(attempts - 1);
                let mut u = Update::default()
                    .remove("lease_until")
                    .remove("lease")
                    .set("next_at", later)
                    .set("last_error", format!("{}: {}", e.code_str(), e.message));
                if attempts >= MAX_ATTEMPTS {
                    u = u.set("dead", true);
                    tracing::error!(outbox = id, hook = %target, "after-hook keeps failing; left for admins");
                }
                match store.update(OUTBOX, id, u, Some(mine)).await {
                    Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Runs one after-payment action as the system: a record created or updated, a
    /// message to a user, a publish to a topic.
    async fn run_action(&self, a: &Value) -> Result<()> {
        let data = a["data"].as_object().cloned().unwrap_or_default();
        let str_of = |k: &str| a[k].as_str().unwrap_or("").to_string();
        match a["kind"].as_str() {
            Some("record") => {
                let table = str_of("table");
                let tables = &self.services.tables;
                if a["op"] == "update" {
                    tables
                        .update(&Caller::AdminKey, &table, &str_of("id"), data, None)
                        .await?;
                } else {
                    tables.create(&Caller::AdminKey, &table, data).await?;
                }
                Ok(())
            }
            Some("message") => {
                self.services
                    .live
                    .send_to_user(&str_of("user"), &a["frame"])
                    .await?;
                Ok(())
            }
            Some("publish") => {
                self.services
                    .live
                    .publish(&Caller::AdminKey, &str_of("topic"), a["data"].clone())
                    .await?;
                Ok(())
            }
            _ => Err(Error::internal("unknown outbox action")),
        }
    }

    async fn maybe_sweep(&self) {
        let now = self.clock().now_ms();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last < SWEEP_EVERY_MS {
            return;
        }
        if self
            .last_sweep
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.sweep().await;
        }
    }

    /// Runs every due outbox item this process can claim (stranded or retrying).
    pub async fn sweep(&self) -> usize {
        self.last_sweep
            .store(self.clock().now_ms(), Ordering::Relaxed);
        let mut n = 0;
        let mut cursor = None;
        for _ in 0..10 {
            let page = match self
                .store()
                .query(Query::partition(OUTBOX).limit(100).after(cursor))
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    return n;
                }
            };
            let now = self.clock().now_ms();
            for it in &page.items {
                let num = |k: &str| it.get(k).and_then(Value::as_i64).unwrap_or(0);
                if it.get("dead").and_then(Value::as_bool) != Some(true)
                    && num("next_at") <= now
                    && num("lease_until") <= now
                {
                    self.process(&it.sk).await;
                    n += 1;
                }
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        n
    }

    /// After-hooks still waiting (retrying or dead), for admins.
    pub async fn outbox(&self, caller: &Caller, limit: usize) -> Result<Vec<Value>> {
        caller.require_admin()?;
        let page = self
            .store()
            .query(Query::partition(OUTBOX).limit(limit.clamp(1, 500)))
            .await?;
        Ok(page
            .items
            .iter()
            .map(|it| {
                let e = it.get("event").cloned().unwrap_or(Value::Null);
                json!({
                    "id": it.sk, "hook": it.get("hook"), "op": e["op"], "table": e["table"],
                    "record_id": e["record_id"],
                    "order": it.get("order"), "name": it.get("name"),
                    "attempts": it.get("attempts").cloned().unwrap_or(json!(0)),
                    "next_at": it.get("next_at").and_then(Value::as_i64).map(rfc3339),
                    "last_error": it.get("last_error"),
                    "dead": it.get("dead").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect())
    }

    /// Gives a dead (or waiting) outbox item a fresh start, and runs it.
    pub async fn retry_outbox(self: &Arc<Self>, caller: &Caller, id: &str) -> Result<()> {
        caller.require_admin()?;
        let u = Update::default()
            .set("attempts", 0)
            .set("next_at", 0)
            .remove("dead")
            .remove("lease_until")
            .remove("lease");
        match self.store().update(OUTBOX, id, u, Some(Cond::Exists)).await {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => {
                return Err(Error::not_found(format!("no outbox item {id:?}")));
            }
            Err(e) => return Err(e.into()),
        }
        self.process(id).await;
        Ok(())
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
