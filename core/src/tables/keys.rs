//! Store keys of tables, and the order-preserving encoding of indexed values.
//!
//! * `rec#<t>` / `<id>` — a record (ids sort by creation time, so the partition is also
//!   the `_id`/`_created` order)
//! * `ix#<t>#<field>` / `<vkey>.<id>` — an index entry; attrs `id`
//! * `ix#<t>#<field>@o` / `<owner vkey>.<vkey>.<id>` and `ix#<t>#<field>@g` /
//!   `<group vkey>.<vkey>.<id>` — the same entries per owner and per group, kept when the
//!   record rule hides records from some readers (see `Schema::indexes`)
//! * `uq#<t>#<field>` / `<sha256 of the value>` — a unique guard; attrs `id`
//! * `cnt#<t>` / `*|<shard>` and `<field>|<vkey>|<shard>` — maintained counts, sharded so
//!   concurrent writers rarely touch the same counter item
//!
//! Table and field names are `[a-z0-9_]`, so no key of one table can fall inside another's.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::schema::{FieldType, parse_rfc3339};

pub const COUNT_SHARDS: u32 = 8;
/// Strings are indexed by their first bytes (DynamoDB sort keys hold 1,024 bytes); longer
/// values still match exactly because every condition is re-checked on the record.
pub const INDEXED_PREFIX_BYTES: usize = 400;

pub fn rec_pk(t: &str) -> String {
    format!("{}{t}", crate::keys::RECORDS)
}

pub fn ix_pk(t: &str, f: &str) -> String {
    format!("{}{t}#{f}", crate::keys::INDEX)
}

pub fn uq_pk(t: &str, f: &str) -> String {
    format!("{}{t}#{f}", crate::keys::UNIQUE)
}

pub fn cnt_pk(t: &str) -> String {
    format!("{}{t}", crate::keys::COUNTS)
}

pub fn total_count_prefix() -> String {
    "*|".to_string()
}

pub fn value_count_prefix(field: &str, vkey: &str) -> String {
    format!("{field}|{vkey}|")
}

/// The encoded value of a field: `0` for absent/null, `1…` otherwise, so that absent
/// values sort first and every record appears in every index of its table.
/// Numbers become 16 hex digits whose byte order is numeric order; strings, hex of
/// their UTF-8 bytes (hex keeps byte order, and `.` sorts below every hex digit, so a
/// string sorts before its extensions).
pub fn vkey(kind: FieldType, v: Option<&Value>) -> String {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return "0".into();
    };
    let body = match kind {
        FieldType::Integer => v.as_i64().map(enc_i64),
        FieldType::Number => v.as_f64().map(enc_f64),
        FieldType::Datetime => v.as_str().and_then(parse_rfc3339).map(enc_i64),
        FieldType::Boolean => v.as_bool().map(|b| if b { "1" } else { "0" }.to_string()),
        _ => v.as_str().map(|s| hex::encode(truncate(s))),
    };
    // A value of the wrong type cannot be stored (records are validated), but a key
    // must exist for every record: such values sort last.
    format!("1{}", body.unwrap_or_else(|| "~".into()))
}

/// Whether a string value was cut to fit a key.
pub fn is_truncated(kind: FieldType, v: &Value) -> bool {
    matches!(
        kind,
        FieldType::String | FieldType::Ref | FieldType::File | FieldType::Text
    ) && v.as_str().is_some_and(|s| s.len() > INDEXED_PREFIX_BYTES)
}

fn truncate(s: &str) -> &[u8] {
    if s.len() <= INDEXED_PREFIX_BYTES {
        return s.as_bytes();
    }
    let mut end = INDEXED_PREFIX_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

fn enc_i64(x: i64) -> String {
    format!("{:016x}", (x as u64) ^ (1 << 63))
}

fn enc_f64(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x }; // -0 and 0 are one value
    let b = x.to_bits();
    let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    format!("{k:016x}")
}

/// The key of a scoped index entry's value: the owner's or group's key first, so one
/// owner's (or group's) entries are one contiguous range in value order.
pub fn scoped_key(scope_key: &str, vkey: &str) -> String {
    format!("{scope_key}.{vkey}")
}

pub fn ix_sk(vkey: &str, id: &str) -> String {
    format!("{vkey}.{id}")
}

/// The guard key of a unique value: a hash, so long values fit and stay exact.
pub fn unique_key(v: &Value) -> String {
    let mut h = Sha256::new();
    h.update(v.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The record id at the end of an index sort key.
pub fn id_of_ix_sk(sk: &str) -> Option<&str> {
    sk.rsplit_once('.').map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoded_values_sort_like_the_values() {
        let nums = [-1e300, -5.5, -1.0, -0.0, 0.0, 1e-9, 1.0, 2.5, 1e300];
        let keys: Vec<_> = nums
            .iter()
            .map(|n| vkey(FieldType::Number, Some(&json!(n))))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
        assert_eq!(keys[3], keys[4]);
        let ints = [i64::MIN, -2, -1, 0, 1, 255, 256, i64::MAX];
        let keys: Vec<_> = ints
            .iter()
            .map(|n| vkey(FieldType::Integer, Some(&json!(n))))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        let strs = ["", "a", "a\u{0}", "ab", "b", "é", "中"];
        let keys: Vec<_> = strs
            .iter()
            .map(|s| ix_sk(&vkey(FieldType::String, Some(&json!(s))), "01ZZ"))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        let dt = |s: &str| vkey(FieldType::Datetime, Some(&json!(s)));
        assert!(dt("1969-12-31T23:59:59.000Z") < dt("1970-01-01T00:00:00.000Z"));
        assert!(dt("2026-01-01T00:00:00.000Z") < dt("2026-01-01T00:00:00.001Z"));
        assert!(
            vkey(FieldType::Boolean, Some(&json!(false)))
                < vkey(FieldType::Boolean, Some(&json!(true)))
        );
        assert_eq!(vkey(FieldType::String, None), "0");
        assert_eq!(vkey(FieldType::String, Some(&Value::Null)), "0");
        assert!(vkey(FieldType::String, None) < vkey(FieldType::String, Some(&json!(""))));
        let long = "长".repeat(300);
        let k = vkey(FieldType::String, Some(&json!(long)));
        assert!(k.len() <= 1 + 2 * INDEXED_PREFIX_BYTES);
        assert!(is_truncated(FieldType::String, &json!(long)));
        assert_eq!(id_of_ix_sk(&ix_sk(&k, "01ABC")), Some("01ABC"));
    }
}
