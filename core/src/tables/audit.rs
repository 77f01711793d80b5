//! Audits: what a table's index entries, unique guards and counts are, beside what its records say they should be.

use std::collections::HashMap;

use serde_json::Value;

use super::keys::{cnt_pk, ix_pk, rec_pk};
use super::records::*;
use super::write::desired_keys;
use crate::error::Result;

impl Tables {
    /// Reads every stored index entry, unique guard and count of a table (and of the
    /// formerly indexed `extra` fields), beside what the records say they should be.
    pub async fn audit_indexes(&self, table: &str, extra: &[&str]) -> Result<Audit> {
        let schema = self.schema(table).await?;
        let mut a = Audit::default();
        for it in self.read_partition(&rec_pk(table)).await? {
            let (ix, uq) = desired_keys(&schema, &it.attrs);
            *a.counts_want.entry("*".into()).or_default() += 1;
            for (f, k) in ix {
                let k = k.as_str().unwrap_or_default().to_string();
                *a.counts_want.entry(format!("{f}|{k}")).or_default() += 1;
                a.entries_want.push((f, super::keys::ix_sk(&k, &it.sk)));
            }
            for (f, h) in uq {
                a.uniques_want
                    .push((f, h.as_str().unwrap_or_default().to_string(), it.sk.clone()));
            }
        }
        let mut fields: Vec<String> = schema.indexed().into_iter().map(|(f, _)| f).collect();
        fields.extend(extra.iter().map(|f| f.to_string()));
        fields.sort();
        fields.dedup();
        for f in &fields {
            for it in self.read_partition(&ix_pk(table, f)).await? {
                a.entries_have.push((f.clone(), it.sk));
            }
            for it in self.read_partition(&super::keys::uq_pk(table, f)).await? {
                let id = it.str("id").unwrap_or_default().to_string();
                a.uniques_have.push((f.clone(), it.sk, id));
            }
        }
        for it in self.read_partition(&cnt_pk(table)).await? {
            let what = it
                .sk
                .rsplit_once('|')
                .map(|(w, _)| w.to_string())
                .unwrap_or_default();
            *a.counts_have.entry(what).or_default() +=
                it.get("n").and_then(Value::as_i64).unwrap_or(0);
        }
        a.counts_have.retain(|_, n| *n != 0);
        a.entries_want.sort();
        a.entries_have.sort();
        a.uniques_want.sort();
        a.uniques_have.sort();
        Ok(a)
    }
}

/// What [`Tables::audit_indexes`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Audit {
    pub entries_want: Vec<(String, String)>,
    pub entries_have: Vec<(String, String)>,
    pub uniques_want: Vec<(String, String, String)>,
    pub uniques_have: Vec<(String, String, String)>,
    pub counts_want: HashMap<String, i64>,
    pub counts_have: HashMap<String, i64>,
}
