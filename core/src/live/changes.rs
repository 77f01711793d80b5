//! Table events: what one subscriber hears of one record change, decided with the
//! table's rules for that subscriber when the event is delivered (or replayed).

use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::tables::Schema;
use crate::tables::rules::visible;
use crate::{Error, Result};

/// System fields a filter may name besides the schema's own.
const FILTERABLE_SYSTEM: [&str; 3] = ["_id", "_owner", "_group"];

/// Checks a subscription's equality filter against the table.
pub fn check_filter(schema: &Schema, filter: &Map<String, Value>) -> Result<()> {
    for k in filter.keys() {
        if !FILTERABLE_SYSTEM.contains(&k.as_str()) && schema.field(k).is_none() {
            return Err(Error::invalid_field(
                "where",
                format!("table {:?} has no field {k:?}", schema.name),
            ));
        }
    }
    Ok(())
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether the part of a record the subscriber can see matches the filter (fields it
/// cannot read count as absent, so a filter reveals nothing hidden).
fn matches(seen: &Map<String, Value>, filter: Option<&Map<String, Value>>) -> bool {
    filter.is_none_or(|f| {
        f.iter().all(|(k, v)| match seen.get(k) {
            Some(x) => same(x, v),
            None => v.is_null(),
        })
    })
}

/// The `change` frame (without its `seq`) one subscriber gets for a record going from
/// `before` to `after`, or `None` when it hears nothing.
///
/// A record is in a subscriber's view when the subscriber may read it and its readable
/// fields match the filter. Entering the view is `create` (a new record) or `enter`;
/// leaving it is `delete` (a deleted record) or `leave`; staying in it is `update`.
/// `delete` and `leave` carry only the record's `_id`.
pub fn change_frame(
    schema: &Schema,
    caller: &Caller,
    filter: Option<&Map<String, Value>>,
    id: &str,
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Option<Value> {
    let view = |r: Option<&Map<String, Value>>| {
        r.and_then(|r| visible(schema, caller, r))
            .filter(|seen| matches(seen, filter))
    };
    let (was, now) = (view(before), view(after));
    let (op, record) = match (was, now) {
        (None, None) => return None,
        (Some(_), Some(r)) => ("update", Value::Object(r)),
        (None, Some(r)) if before.is_none() => ("create", Value::Object(r)),
        (None, Some(r)) => ("enter", Value::Object(r)),
        (Some(_), None) if after.is_none() => ("delete", json!({"_id": id})),
        (Some(_), None) => ("leave", json!({"_id": id})),
    };
    Some(json!({
        "type": "change",
        "topic": format!("{}{}", super::topics::TABLE_PREFIX, schema.name),
        "op": op,
        "record": record,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::TableDef;

    fn schema() -> Schema {
        let def: TableDef = serde_json::from_value(json!({
            "fields": [
                {"name": "status", "type": "string"},
                {"name": "secret", "type": "string", "acl": "rw:-:-"}
            ],
            "acl": {"record": "rwd:r:-"}
        }))
        .unwrap();
        Schema::from_def("notes", &def).unwrap()
    }

    fn rec(status: &str, group: Option<&str>) -> Map<String, Value> {
        json!({"_id": "r1", "_owner": "alice", "_group": group, "status": status, "secret": "s", "_v": 1})
            .as_object()
            .cloned()
            .unwrap()
    }

    fn op(f: Option<Value>) -> Option<String> {
        f.map(|f| f["op"].as_str().unwrap_or("").to_string())
    }

    #[test]
    fn subscribers_hear_only_what_their_rules_and_filter_let_them_see() {
        let s = schema();
        let bob = Caller::test_user("bob", &["team"]);
        let carol = Caller::test_user("carol", &[]);
        let open: Map<String, Value> = json!({"status": "open"}).as_object().cloned().unwrap();
        let f = Some(&open);
        let (shared_open, shared_closed, private_open) = (
            rec("open", Some("team")),
            rec("closed", Some("team")),
            rec("open", None),
        );

        let c = change_frame(&s, &bob, f, "r1", None, Some(&shared_open)).unwrap();
        assert_eq!(c["op"], "create");
        assert_eq!(c["topic"], "table:notes");
        assert_eq!(c["record"]["status"], "open");
        assert!(c["record"].get("secret").is_none(), "a hidden field leaked");
        assert_eq!(
            op(change_frame(
                &s,
                &bob,
                f,
                "r1",
                Some(&shared_open),
                Some(&shared_closed)
            )),
            Some("leave".into())
        );
        assert_eq!(
            op(change_frame(
                &s,
                &bob,
                f,
                "r1",
                Some(&shared_closed),
                Some(&shared_open)
            )),
            Some("enter".into())
        );
        assert_eq!(
            op(change_frame(
                &s,
                &bob,
                f,
                "r1",
                Some(&shared_open),
                Some(&shared_open)
            )),
            Some("update".into())
        );
        // Losing read access is leaving; the frame names only the record.
        let gone =
            change_frame(&s, &bob, f, "r1", Some(&shared_open), Some(&private_open)).unwrap();
        assert_eq!(gone["op"], "leave");
        assert_eq!(gone["record"], json!({"_id": "r1"}));
        assert_eq!(
            op(change_frame(&s, &bob, f, "r1", Some(&shared_open), None)),
            Some("delete".into())
        );
        assert_eq!(
            op(change_frame(&s, &bob, f, "r1", None, Some(&private_open))),
            None
        );
        assert_eq!(
            op(change_frame(&s, &bob, f, "r1", Some(&shared_closed), None)),
            None
        );
        assert_eq!(
            op(change_frame(
                &s,
                &carol,
                None,
                "r1",
                None,
                Some(&shared_open)
            )),
            None
        );
        // A filter on a field the subscriber cannot read never matches a value.
        let by_secret: Map<String, Value> = json!({"secret": "s"}).as_object().cloned().unwrap();
        assert_eq!(
            op(change_frame(
                &s,
                &bob,
                Some(&by_secret),
                "r1",
                None,
                Some(&shared_open)
            )),
            None
        );
        assert_eq!(
            op(change_frame(
                &s,
                &Caller::test_user("alice", &[]),
                Some(&by_secret),
                "r1",
                None,
                Some(&shared_open)
            )),
            Some("create".into())
        );
        assert!(check_filter(&s, &by_secret).is_ok());
        let unknown: Map<String, Value> = json!({"nope": 1}).as_object().cloned().unwrap();
        assert!(check_filter(&s, &unknown).is_err());
    }
}
