//! Schedules: an export with a cron schedule runs as admin when due, once per tick
//! however many processes or sandboxes look. Each looker claims the tick with a
//! conditional put of `fntick#<module>.<export>` / `<tick>`; only the one whose put
//! succeeds runs it.
//!
//! The local server looks every second; on AWS an EventBridge rule calls the dispatcher
//! every minute. A tick is run if it is at most [`CATCH_UP_MS`] old: a server that was
//! down for an hour runs the latest tick it missed, not sixty.

use futures_util::FutureExt;
use serde_json::{Map, Value, json};

use super::{Functions, Invocation, Settings, Trigger};
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::keys;
use crate::store::{Cond, Item, Query, StoreError};
use crate::{Result, ids};

/// How old a due tick may be and still run.
pub const CATCH_UP_MS: i64 = 90_000;
/// How long a claim is kept (long past any catch-up window).
const CLAIM_TTL_SECS: i64 = 24 * 3600;

/// The latest tick of `cron` at or before `now_ms`, if any within [`CATCH_UP_MS`].
pub fn due_tick(cron: &croner::Cron, now_ms: i64) -> Option<i64> {
    let now = chrono::DateTime::from_timestamp_millis(now_ms)?;
    let prev = cron.find_previous_occurrence(&now, true).ok()?;
    let t = prev.timestamp_millis();
    (now_ms - t <= CATCH_UP_MS).then_some(t)
}

impl Functions {
    /// Runs every schedule that is due and not yet claimed, and sweeps the outbox.
    /// Answers how many runs this call claimed.
    pub async fn tick(&self) -> Result<usize> {
        let now = self.clock().now_ms();
        let mut claimed = 0;
        let mut cursor = None;
        loop {
            let page = self
                .store()
                .query(Query::partition(keys::FN_MODULES).limit(1000).after(cursor))
                .await?;
            for it in &page.items {
                let settings: Settings = it
                    .get("settings")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                for (export, pattern) in settings.schedules() {
                    let Ok(cron) = super::settings::parse_schedule(&pattern) else {
                        continue;
                    };
                    let Some(tick) = due_tick(&cron, now) else {
                        continue;
                    };
                    if self.claim(&it.sk, &export, tick).await? {
                        claimed += 1;
                        self.run_scheduled(it.sk.clone(), export, tick).await;
                    }
                }
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        self.sweep().await;
        Ok(claimed)
    }

    async fn claim(&self, module: &str, export: &str, tick: i64) -> Result<bool> {
        let mut attrs = Map::new();
        attrs.insert("claimed_at".into(), json!(self.clock().now_ms()));
        let item = Item::new(
            format!("{}{module}.{export}", keys::FN_TICKS),
            format!("{:013}", tick),
            attrs,
        )
        .expiring_at(tick / 1000 + CLAIM_TTL_SECS);
        match self.store().put(item, Some(Cond::NotExists)).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn run_scheduled(&self, module: String, export: String, tick: i64) {
        let Ok(me) = self.this() else {
            return;
        };
        let job = async move {
            let r = me
                .invoke(Invocation {
                    caller: Caller::AdminKey,
                    module: module.clone(),
                    export: export.clone(),
                    args: vec![json!({"scheduled_at": rfc3339(tick)})],
                    trigger: Trigger::Schedule,
                    depth: 0,
                    request_id: ids::new_id(tick),
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(module = %module, export = %export, error = %e, "scheduled run failed");
            }
        };
        self.background(job.boxed()).await;
    }

    /// Ticks claimed for one export, newest first (for admins and tests).
    pub async fn claimed_ticks(
        &self,
        caller: &Caller,
        module: &str,
        export: &str,
    ) -> Result<Vec<Value>> {
        caller.require_admin()?;
        let page = self
            .store()
            .query(
                Query::partition(format!("{}{module}.{export}", keys::FN_TICKS))
                    .backwards()
                    .limit(100),
            )
            .await?;
        Ok(page
            .items
            .iter()
            .map(|it| json!(it.sk.parse::<i64>().unwrap_or(0)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_ticks() {
        let every_two = super::super::settings::parse_schedule("*/2 * * * * *").unwrap();
        // 2026-01-01T00:00:03.500Z → the tick at :02.
        let t0 = 1_767_225_600_000;
        assert_eq!(due_tick(&every_two, t0 + 3_500), Some(t0 + 2_000));
        assert_eq!(due_tick(&every_two, t0 + 2_000), Some(t0 + 2_000));
        let hourly = super::super::settings::parse_schedule("0 * * * *").unwrap();
        assert_eq!(due_tick(&hourly, t0 + 30_000), Some(t0));
        // An hour-old tick is not caught up.
        assert_eq!(due_tick(&hourly, t0 + 1_800_000), None);
    }
}
