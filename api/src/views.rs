//! What the API answers: the public shapes of domain objects.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use yunqiao_core::auth::{Login, User};
use yunqiao_core::clock::rfc3339;

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
