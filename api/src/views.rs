//! What the API answers: the public shapes of domain objects.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use yunqiao_core::auth::{Login, User};
use yunqiao_core::clock::rfc3339;
use yunqiao_core::kv::{Entry, Namespace};

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub phone: Option<String>,
    pub groups: Vec<String>,
    #[schema(value_type = Object)]
    pub profile: Map<String, Value>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            openid: u.openid,
            unionid: u.unionid,
            nickname: u.nickname,
            avatar_url: u.avatar_url,
            phone: u.phone,
            groups: u.groups,
            profile: u.profile,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginView {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: String,
    pub user: UserView,
}

impl From<Login> for LoginView {
    fn from(l: Login) -> Self {
        LoginView {
            token: l.token,
            expires_at: rfc3339(l.expires_at),
            user: l.user.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The code from `wx.login()` (login) or from the phone-number button (phone).
    pub code: String,
}

/// Profile change: absent fields stay, `null` clears, `profile` keys merge.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProfilePatchDoc {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    #[schema(value_type = Object)]
    pub profile: Option<Map<String, Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupsBody {
    pub groups: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// A key-value entry.
#[derive(Serialize, ToSchema)]
pub struct KvEntryView {
    pub key: String,
    /// Any JSON value, `null` included.
    #[schema(value_type = Object)]
    pub value: Value,
    /// 1 on creation, bumped by every write.
    pub version: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// When the entry is gone (written with a `ttl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl From<Entry> for KvEntryView {
    fn from(e: Entry) -> Self {
        KvEntryView {
            key: e.key,
            value: e.value,
            version: e.version,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
            expires_at: e.expires_at.map(rfc3339),
        }
    }
}

/// A key-value namespace's definition.
#[derive(Serialize, ToSchema)]
pub struct KvNamespaceView {
    pub name: String,
    /// Who may read keys: `anyone`, `users`, `group:<name>` or `admins`.
    pub read: String,
    /// Who may write keys: `anyone`, `users`, `group:<name>` or `admins`.
    pub write: String,
    /// `shared`, or `user`: each user has private keys.
    pub scope: String,
    /// Bumped by every change of the definition.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Namespace> for KvNamespaceView {
    fn from(n: Namespace) -> Self {
        KvNamespaceView {
            name: n.name,
            read: n.read.as_string(),
            write: n.write.as_string(),
            scope: n.scope.as_str().into(),
            version: n.version,
            created_at: rfc3339(n.created_at),
            updated_at: rfc3339(n.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KvNamespaceList {
    pub items: Vec<KvNamespaceView>,
}

/// A page of entries. Admins also get the namespace's definition, at the top level.
#[derive(Serialize, ToSchema)]
pub struct KvPage {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<KvNamespaceView>,
    pub items: Vec<KvEntryView>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `PUT /v1/kv/{ns}/{key}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KvPutDoc {
    /// Required; any JSON (`null` included), at most 350,000 bytes.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Seconds to live, 1 to 31,536,000; absent: the entry does not expire.
    pub ttl: Option<i64>,
    /// Write only while the entry is at this version (409 otherwise).
    pub version: Option<i64>,
}

/// `PUT /v1/kv/{ns}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KvNamespaceDoc {
    /// Default `users`.
    pub read: Option<String>,
    /// Default `users`.
    pub write: Option<String>,
    /// `shared` (default) or `user`; fixed once created.
    pub scope: Option<String>,
}
