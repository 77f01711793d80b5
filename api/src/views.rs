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

// ---- tables (document shapes: the handlers pass the domain's JSON through) ----------

/// A record: its system fields and the table's own fields (those the caller may read).
pub struct RecordDoc;

impl utoipa::PartialSchema for RecordDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let nullable = || {
            ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
        };
        ObjectBuilder::new()
            .description(Some(
                "A record: its system fields and the table's own fields (those the caller may read).",
            ))
            .property("_id", string().description(Some("time-sortable, unguessable id")))
            .property("_owner", nullable().description(Some("the creator's user id")))
            .property("_group", nullable())
            .property("_created", string().description(Some("RFC 3339")))
            .property("_updated", string())
            .property(
                "_v",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("version, bumped by every change")),
            )
            .required("_id")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for RecordDoc {}

/// A new record, or a change: the table's fields (`null` removes one in a change;
/// `{"$inc": n}`, `{"$append": [..]}`, `{"$remove": [..]}` are operators), and `_group`
/// on create, `_v` on a change.
pub struct RecordInput;

impl utoipa::PartialSchema for RecordInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "The table's fields (`null` removes one in a change; `{\"$inc\": n}`, `{\"$append\": [..]}`, `{\"$remove\": [..]}` are operators), `_group` on create, `_v` on a change.",
            ))
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for RecordInput {}

/// A query (see the README for the language).
#[derive(Serialize, ToSchema)]
pub struct QueryDoc {
    /// Conditions that all hold: `[field, op, value]`; `op` is one of `eq ne gt gte lt
    /// lte in nin prefix contains exists`.
    #[schema(value_type = Option<Vec<Vec<Object>>>)]
    pub r#where: Option<Value>,
    /// Lists of conditions of which one list must hold.
    #[schema(value_type = Option<Vec<Vec<Vec<Object>>>>)]
    pub any: Option<Value>,
    /// `[[field, "asc" | "desc"]]`.
    #[schema(value_type = Option<Vec<Vec<String>>>)]
    pub order: Option<Value>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub fields: Option<Vec<String>>,
    pub expand: Option<Vec<String>>,
    pub count: Option<bool>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A page of records.
#[derive(Serialize, ToSchema)]
pub struct QueryAnswerDoc {
    #[schema(value_type = Vec<RecordDoc>)]
    pub items: Vec<Value>,
    /// Present when more may follow: send it back unchanged.
    pub cursor: Option<String>,
    pub total: Option<u64>,
    /// Candidate rows examined.
    pub scanned: u64,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub last_page: Option<u64>,
}

/// A field of a table.
#[derive(Serialize, ToSchema)]
pub struct FieldDoc {
    pub name: String,
    /// `string text integer number boolean datetime json ref file`.
    pub r#type: String,
    pub required: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub default: Option<Value>,
    pub length: Option<u32>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub index: Option<bool>,
    pub unique: Option<bool>,
    /// `owner:group:other` over `r w`.
    pub acl: Option<String>,
    /// The table a ref points into.
    pub table: Option<String>,
    pub many: Option<bool>,
}

/// A table's rules.
#[derive(Serialize, ToSchema)]
pub struct TableAclDoc {
    /// `owner:group:other` over `r w d`, default `rwd:-:-`.
    pub record: Option<String>,
    /// `anyone | users | group:<name> | admins`, default `users`.
    pub create: Option<String>,
    /// The `_group` of records created without one.
    pub group: Option<String>,
}

/// What an admin puts.
#[derive(Serialize, ToSchema)]
pub struct TableDefDoc {
    pub fields: Vec<FieldDoc>,
    pub acl: Option<TableAclDoc>,
    /// `{"before_create": "<module>.<export>", …}`: `before_create`, `before_update`,
    /// `before_delete`, `after_create`, `after_update`, `after_delete`.
    #[schema(value_type = Option<Object>)]
    pub hooks: Option<Value>,
}

/// A table as an admin sees it (others get `name`, `fields` they could read, `version`).
#[derive(Serialize, ToSchema)]
pub struct TableDoc {
    pub name: String,
    pub fields: Vec<FieldDoc>,
    pub acl: Option<TableAclDoc>,
    pub version: i64,
    pub pending_indexes: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub backfill: Option<Value>,
    /// Admins only.
    #[schema(value_type = Option<Object>)]
    pub hooks: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TablesDoc {
    pub items: Vec<TableDoc>,
}

/// One batch operation.
#[derive(Serialize, ToSchema)]
pub struct BatchOpDoc {
    /// `create | update | delete | check`.
    pub op: String,
    pub table: String,
    pub id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub _v: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchDoc {
    pub ops: Vec<BatchOpDoc>,
}

/// Results in the order of the operations: records, or `null` for deletes and checks.
#[derive(Serialize, ToSchema)]
pub struct BatchAnswerDoc {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

// ---- cloud functions ------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct CallBodyDoc {
    /// The export's arguments, in order.
    #[schema(value_type = Option<Vec<Object>>)]
    pub args: Option<Vec<Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct CallDataDoc {
    /// `main`'s one argument.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct CallAnswerDoc {
    /// Whatever the function returned (`null` for `undefined`).
    #[schema(value_type = Object)]
    pub result: Value,
}

#[derive(Serialize, ToSchema)]
pub struct ExportSettingsDoc {
    /// `anyone`, `users`, `group:<g>`, `admins` or `nobody` (hooks and schedules only).
    pub access: Option<String>,
    /// Cron, UTC: `minute hour day month weekday`, optionally with seconds first.
    pub schedule: Option<String>,
}

/// What an admin deploys.
#[derive(Serialize, ToSchema)]
pub struct FunctionModuleInputDoc {
    /// One ES module; its exported functions are callable. It may import only `yunqiao`.
    pub source: String,
    /// Who may call its exports: `anyone`, `users` (default), `group:<g>`, `admins`,
    /// `nobody`.
    pub access: Option<String>,
    /// Per export: `{access, schedule}`.
    #[schema(value_type = Option<Object>)]
    pub exports: Option<Value>,
    /// 10 to 25000, default 5000.
    pub timeout_ms: Option<u64>,
    /// 8 to 512, default 64.
    pub memory_mb: Option<u64>,
    /// Names of server secrets `secrets.get` may read.
    pub secrets: Option<Vec<String>>,
    /// `host` or `host:port` that `http.fetch` may reach.
    pub hosts: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionExportDoc {
    pub name: String,
    pub access: String,
    pub schedule: Option<String>,
}

/// A deployed module (with `source` and `current_version` when read one by one).
#[derive(Serialize, ToSchema)]
pub struct FunctionModuleDoc {
    pub name: String,
    pub version: i64,
    pub exports: Vec<FunctionExportDoc>,
    pub access: String,
    pub timeout_ms: u64,
    pub memory_mb: u64,
    pub secrets: Vec<String>,
    pub hosts: Vec<String>,
    pub source_bytes: u64,
    pub sha256: String,
    /// Epoch milliseconds.
    pub deployed_at: i64,
    pub source: Option<String>,
    pub current_version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionModuleList {
    pub items: Vec<FunctionModuleDoc>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionVersionDoc {
    pub version: i64,
    pub deployed_at: i64,
    pub source_bytes: u64,
    pub sha256: String,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionVersionList {
    pub items: Vec<FunctionVersionDoc>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionLogLineDoc {
    /// `log`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

/// One call of a module.
#[derive(Serialize, ToSchema)]
pub struct FunctionLogDoc {
    /// Epoch milliseconds.
    pub at: i64,
    pub request_id: String,
    pub export: String,
    pub version: i64,
    /// `call`, `hook` or `schedule`.
    pub trigger: String,
    /// A user id, `admin` or `anonymous`.
    pub caller: String,
    pub duration_ms: f64,
    /// `ok` or the error code answered.
    pub outcome: String,
    /// The error, with the stack for exceptions (never sent to the caller).
    pub error: Option<String>,
    pub logs: Vec<FunctionLogLineDoc>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionLogPage {
    pub items: Vec<FunctionLogDoc>,
}

/// An after-hook still waiting.
#[derive(Serialize, ToSchema)]
pub struct OutboxItemDoc {
    pub id: String,
    /// `<module>.<export>`.
    pub hook: String,
    /// `create`, `update` or `delete`.
    pub op: String,
    pub table: String,
    pub record_id: String,
    pub attempts: i64,
    pub next_at: Option<i64>,
    pub last_error: Option<String>,
    /// Gave up after repeated failures; `POST …/retry` starts it again.
    pub dead: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxItemDoc>,
}
