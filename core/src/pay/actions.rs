//! After payment: what runs once per paid order, as outbox items written in the same
//! transaction as the `PAID` transition (so they exist exactly when it committed).
//!
//! * the `on_paid` export (`pay.on_paid`), with `{id, op: "paid", order}`;
//! * record actions (`pay.actions`): create or update a record, as the system, with
//!   templates — XpmJS' success hooks;
//! * a message to the buyer: `{"type":"message","cmd":"pay.paid","body":<order>,
//!   "from":{"system":"pay"}}` (the SDK waits for exactly this `cmd`);
//! * a publish of `{"cmd":"pay.paid","order":<order>}` to `pay.topic`, if set.
//!
//! The functions outbox runs them: claimed by one runner, retried with backoff when they
//! fail (the failure recorded in the order's history), never undoing the payment.
//!
//! Templates: a string that is exactly one `{{name}}` becomes that value with its type
//! (`"{{amount}}"` → `1234`); `{{name}}` inside a longer string is replaced by its text.
//! Names: [`PLACEHOLDERS`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::keys;
use crate::store::{Item, WriteOp};

/// The names a template may use (paths into the paid order's view).
pub const PLACEHOLDERS: &[&str] = &[
    "out_trade_no",
    "buyer",
    "amount",
    "quantity",
    "currency",
    "description",
    "transaction_id",
    "paid_at",
    "item.table",
    "item.id",
];

/// Most record actions.
pub const MAX_ACTIONS: usize = 16;

/// A record written once per paid order (`[[pay.actions]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordAction {
    /// The table (a template: `{{item.table}}` is allowed).
    pub table: String,
    /// `create` (default) or `update`.
    #[serde(default = "create_op")]
    pub op: String,
    /// The record to update (a template, e.g. `{{item.id}}`); only with `update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Field → value; string values are templates.
    #[serde(default)]
    pub data: Map<String, Value>,
}

fn create_op() -> String {
    "create".into()
}

fn placeholders(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push(after);
            break;
        };
        out.push(after[..j].trim());
        rest = &after[j + 2..];
    }
    out
}

fn check_template(what: &str, s: &str) -> Result<(), String> {
    for p in placeholders(s) {
        if !PLACEHOLDERS.contains(&p) {
            return Err(format!(
                "{what}: unknown template {{{{{p}}}}} (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
    }
    Ok(())
}

impl RecordAction {
    /// What configuration loading refuses.
    pub fn check(&self) -> Result<(), String> {
        if self.table.trim().is_empty() {
            return Err("table is required".into());
        }
        check_template("table", &self.table)?;
        match (self.op.as_str(), &self.id) {
            ("create", None) => {}
            ("create", Some(_)) => return Err("id goes with op = \"update\"".into()),
            ("update", Some(id)) => check_template("id", id)?,
            ("update", None) => return Err("op = \"update\" needs an id".into()),
            (op, _) => return Err(format!("op is create or update, not {op:?}")),
        }
        if self.data.is_empty() {
            return Err("data is required".into());
        }
        for (k, v) in &self.data {
            if let Value::String(s) = v {
                check_template(&format!("data.{k}"), s)?;
            }
        }
        Ok(())
    }
}

fn lookup<'a>(ctx: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(ctx, |v, k| &v[k])
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// A template string against the paid order's view.
pub fn render_str(s: &str, ctx: &Value) -> Value {
    let t = s.trim();
    if t.starts_with("{{") && t.ends_with("}}") && placeholders(t).len() == 1 {
        let name = t[2..t.len() - 2].trim();
        if PLACEHOLDERS.contains(&name) {
            return lookup(ctx, name).clone();
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        out.push_str(&text(lookup(ctx, after[..j].trim())));
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Value::String(out)
}

/// The outbox items of one paid order (and their ids, to run at once).
pub struct Outbox {
    pub ops: Vec<WriteOp>,
    pub ids: Vec<String>,
}

/// Builds the after-payment outbox items. `paid` is the order's view once paid.
pub fn paid_outbox(
    on_paid: Option<&str>,
    actions: &[RecordAction],
    topic: Option<&str>,
    paid: &Value,
    now_ms: i64,
) -> Outbox {
    let no = paid["out_trade_no"].as_str().unwrap_or("").to_string();
    let buyer = paid["buyer"].as_str().unwrap_or("").to_string();
    let mut out = Outbox {
        ops: Vec::new(),
        ids: Vec::new(),
    };
    let mut push = |id: String, name: String, mut attrs: Map<String, Value>| {
        attrs.insert("order".into(), json!(no));
        attrs.insert("name".into(), json!(name));
        attrs.insert("attempts".into(), json!(0));
        attrs.insert("next_at".into(), json!(now_ms));
        out.ops.push(WriteOp::put(
            Item::new(keys::OUTBOX, id.clone(), attrs),
            None,
        ));
        out.ids.push(id);
    };
    let new_id = || crate::ids::new_id(now_ms);
    if let Some(target) = on_paid {
        let id = new_id();
        let mut a = Map::new();
        a.insert("hook".into(), json!(target));
        a.insert(
            "event".into(),
            json!({
                "id": id, "op": "paid", "order": paid,
                "caller": {"kind": "user", "id": buyer},
            }),
        );
        a.insert("depth".into(), json!(1));
        push(id, format!("on_paid {target}"), a);
    }
    for (i, r) in actions.iter().enumerate() {
        let data: Map<String, Value> = r
            .data
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => render_str(s, paid),
                    v => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        let mut action = json!({
            "kind": "record", "op": r.op, "table": text(&render_str(&r.table, paid)),
            "data": data,
        });
        if let Some(id) = &r.id {
            action["id"] = json!(text(&render_str(id, paid)));
        }
        let mut a = Map::new();
        a.insert("action".into(), action);
        push(new_id(), format!("actions[{i}] {} {}", r.op, r.table), a);
    }
    let mut a = Map::new();
    a.insert(
        "action".into(),
        json!({"kind": "message", "user": buyer, "frame": {
            "type": "message", "cmd": "pay.paid", "body": paid, "from": {"system": "pay"},
        }}),
    );
    push(new_id(), "message pay.paid".into(), a);
    if let Some(t) = topic {
        let mut a = Map::new();
        a.insert(
            "action".into(),
            json!({"kind": "publish", "topic": t, "data": {"cmd": "pay.paid", "order": paid}}),
        );
        push(new_id(), format!("publish {t}"), a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid() -> Value {
        json!({"out_trade_no": "yq1", "buyer": "u1", "amount": 1234, "quantity": 2,
               "item": {"table": "products", "id": "p1"}})
    }

    #[test]
    fn templates_keep_types_alone_and_interpolate_inside_text() {
        let p = paid();
        assert_eq!(render_str("{{amount}}", &p), json!(1234));
        assert_eq!(render_str(" {{ quantity }} ", &p), json!(2));
        assert_eq!(
            render_str("order {{out_trade_no}} of {{item.table}}/{{item.id}}", &p),
            json!("order yq1 of products/p1")
        );
        assert_eq!(render_str("{{amount}} fen", &p), json!("1234 fen"));
        assert_eq!(render_str("{{transaction_id}}", &p), Value::Null);
        assert_eq!(render_str("no {{ end", &p), json!("no {{ end"));
        assert_eq!(render_str("plain", &p), json!("plain"));
    }

    #[test]
    fn actions_are_checked() {
        let ok: RecordAction = serde_json::from_value(json!({
            "table": "{{item.table}}", "op": "update", "id": "{{item.id}}",
            "data": {"sold": true, "last": "{{out_trade_no}}"}}))
        .unwrap();
        ok.check().unwrap();
        for bad in [
            json!({"table": "t", "data": {"a": "{{secret}}"}}),
            json!({"table": "t", "op": "update", "data": {"a": 1}}),
            json!({"table": "t", "id": "x", "data": {"a": 1}}),
            json!({"table": "t", "op": "delete", "id": "x", "data": {"a": 1}}),
            json!({"table": "t"}),
            json!({"table": "", "data": {"a": 1}}),
            json!({"table": "{{openid}}", "data": {"a": 1}}),
        ] {
            let a: RecordAction = serde_json::from_value(bad.clone()).unwrap();
            assert!(a.check().is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<RecordAction>(json!({"table": "t", "sql": "x"})).is_err());
    }

    #[test]
    fn one_item_per_action_with_the_message_always() {
        let a: RecordAction =
            serde_json::from_value(json!({"table": "log", "data": {"n": "{{amount}}"}})).unwrap();
        let o = paid_outbox(Some("shop.paid"), &[a], Some("sales"), &paid(), 1);
        assert_eq!(o.ids.len(), 4);
        let kinds: Vec<Value> = o
            .ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { item, .. } => item
                    .get("action")
                    .map(|a| a["kind"].clone())
                    .unwrap_or(json!("hook")),
                _ => json!(null),
            })
            .collect();
        assert_eq!(
            kinds,
            json!(["hook", "record", "message", "publish"])
                .as_array()
                .unwrap()
                .clone()
        );
        let o = paid_outbox(None, &[], None, &paid(), 1);
        assert_eq!(o.ids.len(), 1, "the buyer's message is always sent");
    }
}
