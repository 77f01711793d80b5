//! KV entries for export and import (`docs/export-format.md`): a namespace's entries
//! (one user's, for a user-scoped namespace) page by page, and an entry written back by
//! its key, keeping its times and expiry.

use serde_json::{Map, Value, json};

use super::{Entry, Kv, Scope, check_key, check_value, shared_pk, user_scoped_pk};
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::outcome::Outcome;
use crate::store::{Cond, Item, Query, StoreError};

/// An entry as an archive line gives it; times in epoch ms.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine {
    pub key: String,
    pub value: Value,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl EntryLine {
    pub fn from_entry(e: &Entry, user: Option<&str>) -> EntryLine {
        EntryLine {
            key: e.key.clone(),
            value: e.value.clone(),
            user: user.map(str::to_string),
            created_at: Some(e.created_at),
            updated_at: Some(e.updated_at),
            expires_at: e.expires_at,
        }
    }
}

impl Kv {
    /// The partition of a namespace's entries: shared, or `user`'s.
    async fn dump_pk(&self, ns: &str, user: Option<&str>) -> Result<String> {
        let n = self.namespace(ns).await?;
        match (n.scope, user) {
            (Scope::Shared, None) => Ok(shared_pk(ns)),
            (Scope::User, Some(u)) if ids::is_id(u) => Ok(user_scoped_pk(ns, u)),
            (Scope::Shared, Some(_)) => Err(Error::invalid_field(
                "user",
                format!("{ns:?} is a shared namespace: its entries name no user"),
            )),
            (Scope::User, _) => Err(Error::invalid_field(
                "user",
                format!("{ns:?} is user-scoped: each entry names its user's id"),
            )),
        }
    }

    /// One page of a namespace's entries (of `user`, when user-scoped), in key order.
    pub async fn dump_entries(
        &self,
        ns: &str,
        user: Option<&str>,
        cursor: Option<String>,
    ) -> Result<(Vec<Entry>, Option<String>)> {
        let pk = self.dump_pk(ns, user).await?;
        let page = self
            .store
            .query(Query::partition(pk).limit(100).after(cursor))
            .await?;
        Ok((
            page.items.iter().map(Entry::from_item).collect(),
            page.cursor,
        ))
    }

    /// Writes an entry by its key (import): created, changed, or left alone when its
    /// value and expiry are those stored. An entry already expired is skipped
    /// (`Unchanged`).
    pub async fn restore_entry(&self, ns: &str, line: &EntryLine) -> Result<Outcome> {
        check_key(&line.key)?;
        check_value(&line.value)?;
        let pk = self.dump_pk(ns, line.user.as_deref()).await?;
        let now = self.clock.now_ms();
        let expires = match line.expires_at {
            Some(ms) if ms <= now => return Ok(Outcome::Unchanged),
            Some(ms) => Some((ms + 999).div_euclid(1000)),
            None => None,
        };
        let old = self.store.get(&pk, &line.key).await?;
        let before = old.as_ref().map(Entry::from_item);
        if let Some(b) = &before
            && b.value == line.value
            && b.expires_at == expires.map(|s| s * 1000)
        {
            return Ok(Outcome::Unchanged);
        }
        let mut attrs = Map::new();
        attrs.insert("value".into(), line.value.clone());
        attrs.insert(
            "version".into(),
            json!(before.as_ref().map_or(1, |b| b.version + 1)),
        );
        attrs.insert("created_at".into(), json!(line.created_at.unwrap_or(now)));
        attrs.insert("updated_at".into(), json!(line.updated_at.unwrap_or(now)));
        let mut item = Item::new(&pk, &line.key, attrs);
        item.expires_at = expires;
        let cond = match &before {
            Some(b) => Cond::eq("version", b.version),
            None => Cond::NotExists,
        };
        match self.store.put(item, Some(cond)).await {
            Ok(()) if before.is_some() => Ok(Outcome::Changed),
            Ok(()) => Ok(Outcome::Created),
            Err(StoreError::ConditionFailed) => Err(Error::new(
                Code::Conflict,
                format!("{:?} changed during the import; retry", line.key),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
