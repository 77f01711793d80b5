//! Users for export and import (`docs/export-format.md`): every user page by page, and a
//! user written back by id with their openid, so that a WeChat login after an import
//! finds the same user.

use serde_json::{Map, json};

use super::{Auth, MAX_GROUPS, User, to_attrs, user_pk, valid_group};
use crate::error::{Code, Error, Result};
use crate::ids;
use crate::outcome::Outcome;
use crate::store::{Cond, Item, Query, StoreError, WriteOp};

const MAX_OPENID: usize = 128;

/// A user as an archive line gives them (`docs/export-format.md`); times in epoch ms.
/// What a line leaves out is kept as it is on the target (or, for a new user, empty;
/// times: now).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    pub id: String,
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub profile: Option<Map<String, serde_json::Value>>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
}

impl From<&User> for UserLine {
    fn from(u: &User) -> UserLine {
        UserLine {
            id: u.id.clone(),
            openid: u.openid.clone(),
            unionid: u.unionid.clone(),
            nickname: u.nickname.clone(),
            avatar_url: u.avatar_url.clone(),
            phone: u.phone.clone(),
            groups: Some(u.groups.clone()),
            profile: Some(u.profile.clone()),
            created_at: Some(u.created_at),
            updated_at: Some(u.updated_at),
        }
    }
}

impl UserLine {
    /// The user this line makes of `before` (what the target holds, if anything).
    fn user(&self, before: Option<&User>, now: i64) -> User {
        let mut groups = self
            .groups
            .clone()
            .or_else(|| before.map(|b| b.groups.clone()))
            .unwrap_or_default();
        groups.sort();
        groups.dedup();
        User {
            id: self.id.clone(),
            openid: self.openid.clone(),
            unionid: self.unionid.clone(),
            nickname: self.nickname.clone(),
            avatar_url: self.avatar_url.clone(),
            phone: self.phone.clone(),
            groups,
            profile: self
                .profile
                .clone()
                .or_else(|| before.map(|b| b.profile.clone()))
                .unwrap_or_default(),
            created_at: self
                .created_at
                .or(before.map(|b| b.created_at))
                .unwrap_or(now),
            updated_at: self
                .updated_at
                .or(before.map(|b| b.updated_at))
                .unwrap_or(now),
            v: before.map_or(1, |b| b.v),
        }
    }
}

/// Checks a user line of an archive: its id, openid and groups as the API would.
pub fn check_user(u: &UserLine) -> Result<()> {
    if !ids::is_id(&u.id) {
        return Err(Error::invalid_field("id", "a user id is a yunqiao id"));
    }
    let bad = |s: &str| s.is_empty() || s.len() > MAX_OPENID || s.chars().any(char::is_control);
    if bad(&u.openid) {
        return Err(Error::invalid_field(
            "openid",
            format!("an openid is 1 to {MAX_OPENID} bytes without control characters"),
        ));
    }
    if u.unionid.as_deref().is_some_and(bad) {
        return Err(Error::invalid_field(
            "unionid",
            format!("a unionid is 1 to {MAX_OPENID} bytes without control characters"),
        ));
    }
    let groups = u.groups.as_deref().unwrap_or_default();
    if groups.len() > MAX_GROUPS || !groups.iter().all(|g| valid_group(g)) {
        return Err(Error::invalid_field(
            "groups",
            format!(
                "at most {MAX_GROUPS} groups of 1 to 32 of a-z 0-9 _ -, starting with a letter"
            ),
        ));
    }
    Ok(())
}

impl Auth {
    /// One page of every user, oldest first (export).
    pub async fn dump_users(&self, cursor: Option<String>) -> Result<(Vec<User>, Option<String>)> {
        let page = self
            .store
            .query(
                Query::partition(crate::keys::USERS)
                    .limit(100)
                    .after(cursor),
            )
            .await?;
        let mut users = Vec::with_capacity(page.items.len());
        for it in &page.items {
            match self.get_user(&it.sk).await {
                Ok(u) => users.push(u),
                Err(e) if e.code == Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok((users, page.cursor))
    }

    /// Writes `u` by its id (import): created, changed, or left alone when equal. Its
    /// openid must be free or already its own; an openid it had before is released.
    pub async fn restore_user(&self, line: &UserLine) -> Result<Outcome> {
        check_user(line)?;
        let openid_pk = format!("{}{}", crate::keys::OPENID, line.openid);
        let owner = self.store.get(&openid_pk, "_").await?;
        if let Some(ix) = &owner
            && ix.str("user_id") != Some(line.id.as_str())
        {
            return Err(Error::new(
                Code::Conflict,
                format!("openid {:?} belongs to another user here", line.openid),
            )
            .with_details(json!({"field": "openid", "id": line.id})));
        }
        let before = match self.store.get(&user_pk(&line.id), "_").await? {
            Some(it) => Some(
                serde_json::from_value::<User>(serde_json::Value::Object(it.attrs))
                    .map_err(|_| Error::internal("a stored user is unreadable"))?,
            ),
            None => None,
        };
        let mut u = line.user(before.as_ref(), self.clock.now_ms());
        if before.as_ref() == Some(&u) && owner.is_some() {
            return Ok(Outcome::Unchanged);
        }
        u.v = before.as_ref().map_or(1, |b| b.v + 1);
        let mut ix = Map::new();
        ix.insert("user_id".into(), json!(u.id));
        let mut listing = Map::new();
        listing.insert("created_at".into(), json!(u.created_at));
        let mut ops = vec![
            WriteOp::put(
                Item::new(&openid_pk, "_", ix),
                Some(Cond::Or(vec![
                    Cond::NotExists,
                    Cond::eq("user_id", u.id.as_str()),
                ])),
            ),
            WriteOp::put(
                Item::new(user_pk(&u.id), "_", to_attrs(&u)?),
                Some(match &before {
                    Some(b) => Cond::eq("v", b.v),
                    None => Cond::NotExists,
                }),
            ),
            WriteOp::put(Item::new(crate::keys::USERS, &u.id, listing), None),
        ];
        if let Some(b) = &before
            && b.openid != u.openid
        {
            ops.push(WriteOp::Delete {
                pk: format!("{}{}", crate::keys::OPENID, b.openid),
                sk: "_".into(),
                cond: Some(Cond::eq("user_id", u.id.as_str())),
            });
        }
        let r = self.store.transact(ops).await;
        self.users.forget(&u.id);
        match r {
            Ok(()) => Ok(if before.is_some() {
                Outcome::Changed
            } else {
                Outcome::Created
            }),
            Err(StoreError::TransactionCanceled { .. }) => Err(Error::new(
                Code::Conflict,
                format!("user {:?} changed during the import; retry", u.id),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
