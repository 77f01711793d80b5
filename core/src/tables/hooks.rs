//! Table hooks: the port through which writes run cloud functions.
//!
//! * `before_*` run inside the request, before the write; they may replace the data
//!   (create, update) or refuse with an error the client gets.
//! * `after_*` are written as an outbox item in the record's own transaction, so a
//!   committed change always has its item and a canceled one never does. After the
//!   commit the writer hands the items to the runner, which claims, runs and deletes
//!   them; items left by a crash are picked up later (see `functions::outbox`).

use std::sync::{OnceLock, Weak};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::changes::RecordChange;
use super::schema::Schema;
use crate::auth::Caller;
use crate::store::{Item, WriteOp};
use crate::{Code, Error, Result, ids};

/// Partition of pending after-hooks: `outbox` / `<id>`.
pub const OUTBOX_PK: &str = crate::keys::OUTBOX;
/// How deep hooks may nest (a hook's write firing a hook …) before the write is refused.
pub const MAX_HOOK_DEPTH: u8 = 3;
/// Records larger than this travel to after-hooks as `{_id}` only (`truncated: true`).
const MAX_EVENT_RECORD_BYTES: usize = 150_000;

#[async_trait]
pub trait HookRunner: Send + Sync {
    /// Runs a before-hook (`target` is `<module>.<export>`) at `depth`; `Some(data)`
    /// replaces the data to write.
    async fn before(
        &self,
        target: &str,
        caller: &Caller,
        event: Value,
        depth: u8,
    ) -> Result<Option<Map<String, Value>>>;
    /// These outbox items have committed: run them (without failing the write).
    async fn committed(&self, outbox: Vec<String>);
}

#[derive(Default)]
pub(crate) struct HookSlot(OnceLock<Weak<dyn HookRunner>>);

impl HookSlot {
    pub fn set(&self, r: Weak<dyn HookRunner>) {
        let _ = self.0.set(r);
    }

    fn runner(&self) -> Option<std::sync::Arc<dyn HookRunner>> {
        self.0.get().and_then(Weak::upgrade)
    }

    /// Runs `schema`'s `before_<op>` hook if it has one: the data to write after it.
    pub async fn before(
        &self,
        schema: &Schema,
        op: &str,
        caller: &Caller,
        depth: u8,
        mut event: Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>> {
        let Some(target) = schema.hook(&format!("before_{op}")) else {
            return Ok(None);
        };
        if depth >= MAX_HOOK_DEPTH {
            return Err(depth_exceeded());
        }
        let Some(runner) = self.runner() else {
            return Err(Error::internal(
                "this table has hooks but no function runtime",
            ));
        };
        event.insert("op".into(), json!(op));
        event.insert("table".into(), json!(schema.name));
        event.insert("caller".into(), caller.view());
        runner
            .before(target, caller, Value::Object(event), depth + 1)
            .await
    }

    pub async fn committed(&self, outbox: Vec<String>) {
        if outbox.is_empty() {
            return;
        }
        if let Some(r) = self.runner() {
            r.committed(outbox).await;
        }
    }
}

pub fn depth_exceeded() -> Error {
    Error::new(
        Code::HookDepthExceeded,
        format!("hooks may nest at most {MAX_HOOK_DEPTH} deep; this write would fire one more"),
    )
}

fn trimmed(rec: &Option<Map<String, Value>>, id: &str) -> (Value, bool) {
    match rec {
        None => (Value::Null, false),
        Some(r) => {
            let size = serde_json::to_vec(r).map_or(usize::MAX, |v| v.len());
            if size > MAX_EVENT_RECORD_BYTES {
                (json!({"_id": id}), true)
            } else {
                (Value::Object(r.clone()), false)
            }
        }
    }
}

/// The outbox items for the after-hooks of these changes, to write in their transaction.
pub fn outbox_items<'a>(
    schema_of: impl Fn(&str) -> Option<&'a Schema>,
    changes: &[RecordChange],
    caller: &Caller,
    depth: u8,
    now_ms: i64,
) -> Result<Vec<(String, WriteOp)>> {
    let mut out = Vec::new();
    for c in changes {
        let op = match (&c.before, &c.after) {
            (None, Some(_)) => "create",
            (Some(_), Some(_)) => "update",
            (Some(_), None) => "delete",
            (None, None) => continue,
        };
        let Some(target) = schema_of(&c.table).and_then(|s| s.hook(&format!("after_{op}"))) else {
            continue;
        };
        if depth >= MAX_HOOK_DEPTH {
            return Err(depth_exceeded());
        }
        let (record, t1) = trimmed(&c.after, &c.id);
        let (old, t2) = trimmed(&c.before, &c.id);
        let id = ids::new_id(now_ms);
        let mut attrs = Map::new();
        attrs.insert("hook".into(), json!(target));
        attrs.insert(
            "event".into(),
            json!({
                "id": id, "op": op, "table": c.table, "record_id": c.id,
                "record": record, "old": old, "truncated": t1 || t2,
                "caller": caller.view(),
            }),
        );
        attrs.insert("depth".into(), json!(depth + 1));
        attrs.insert("attempts".into(), json!(0));
        attrs.insert("next_at".into(), json!(now_ms));
        let item = Item::new(OUTBOX_PK, id.clone(), attrs);
        out.push((id, WriteOp::Put { item, cond: None }));
    }
    Ok(out)
}
