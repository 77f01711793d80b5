//! What the API answers: the public shapes of domain objects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ArrayItems, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};
use yunqiao_core::auth::{Login, ProfilePatch, User};
use yunqiao_core::clock::rfc3339;
use yunqiao_core::functions::settings::{ExportSettings, ModuleInput};
use yunqiao_core::kv::{Entry, Namespace, NamespaceDef, PutEntry};
use yunqiao_core::tables::schema::TableAclDef;
use yunqiao_core::tables::{
    Backfill, BatchOp, ContentCheck, Field, FieldType, QueryResult, QuerySpec, ReviewPolicy,
    Schema as TableSchema, TableDef,
};

/// A user as answers show it: never the openid or unionid (server code reads them in a
/// cloud function's `context.caller`), nor WeChat's session key.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub phone: Option<String>,
    pub groups: Vec<String>,
    #[schema(value_type = BTreeMap<String, Value>)]
    pub profile: Map<String, Value>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
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

// Read as the domain reads its `ProfilePatch` (tested), then handed to it.
/// A profile change: absent fields stay, `null` clears, `profile` keys merge (`null`
/// removes a key).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    /// An http(s) URL; `null` clears the avatar.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<String>>,
    /// The id of a ready, **public** image you uploaded (`/v1/files`): `avatar_url`
    /// becomes its stable URL, `<origin>/v1/files/<id>/content` (origin:
    /// `files.public_url`, else this request's). Otherwise 400 `FILE_NOT_USABLE`. `null`
    /// clears the avatar; not with `avatar_url`. The file stays yours: deleting it
    /// breaks the URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub avatar_file: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, Value>>)]
    pub profile: Option<Map<String, Value>>,
}

/// A field that is present (`null` included) is `Some`; only an absent one is `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl From<ProfileBody> for ProfilePatch {
    fn from(b: ProfileBody) -> ProfilePatch {
        ProfilePatch {
            nickname: b.nickname,
            avatar_url: b.avatar_url,
            avatar_file: b.avatar_file,
            profile: b.profile,
        }
    }
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
    pub value: Value,
    /// The entry's version: 1 on creation, bumped by every write (`_v`, as a record's).
    #[serde(rename = "_v")]
    pub v: i64,
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
            v: e.version,
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
    /// The definition's number, bumped by every change of it (a definition's number is
    /// `version`; a piece of data's is `_v`).
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

// Read as the domain reads its `PutEntry` (tested), then handed to it.
/// A write of one key (`PUT /v1/kv/{ns}/{key}`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KvPutBody {
    /// Required; any JSON (`null` included), at most 350,000 bytes.
    // `None` only when absent: the domain answers that it is required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Value, required = true)]
    pub value: Option<Value>,
    /// Seconds to live, 1 to 31,536,000; absent: the entry does not expire.
    #[serde(default)]
    pub ttl: Option<i64>,
    /// Write only while the entry is at this version `_v` (409 otherwise).
    #[serde(default, rename = "_v")]
    pub v: Option<i64>,
}

impl From<KvPutBody> for PutEntry {
    fn from(b: KvPutBody) -> PutEntry {
        PutEntry {
            value: b.value,
            ttl: b.ttl,
            version: b.v,
            // Set from `If-None-Match: *`, never from the body.
            create_only: false,
        }
    }
}

// Read as the domain reads its `NamespaceDef` (tested), then handed to it.
/// A namespace's definition (`PUT /v1/kv/{ns}`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KvNamespaceBody {
    /// Who may read keys: `anyone`, `users` (default), `group:<name>` or `admins`.
    #[serde(default)]
    pub read: Option<String>,
    /// Who may write keys: `anyone`, `users` (default), `group:<name>` or `admins`.
    #[serde(default)]
    pub write: Option<String>,
    /// `shared` (default) or `user`; fixed once created.
    #[serde(default)]
    pub scope: Option<String>,
}

impl From<KvNamespaceBody> for NamespaceDef {
    fn from(b: KvNamespaceBody) -> NamespaceDef {
        NamespaceDef {
            read: b.read,
            write: b.write,
            scope: b.scope,
        }
    }
}

// ---- tables ---------------------------------------------------------------------------

/// Any JSON value, `null` included: described as such (`{}`), so that generated clients
/// take numbers, strings, lists and objects alike.
fn any_value() -> Schema {
    Schema::Object(Object::with_type(SchemaType::AnyValue))
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// A condition of a query, `[field, op, value]`: a list of three, described as the tuple
/// it is.
pub struct Condition;

impl PartialSchema for Condition {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .description(Some(
                "[field, op, value]: `op` is one of eq ne gt gte lt lte in nin prefix contains exists",
            ))
            .prefix_items([
                Schema::Object(string("a field, or a dotted path into a json field").build()),
                Schema::Object(
                    string("the operator")
                        .enum_values(Some([
                            "eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "prefix",
                            "contains", "exists",
                        ]))
                        .build(),
                ),
                any_value(),
            ])
            .items(ArrayItems::RefOrSchema(Box::new(any_value().into())))
            .min_items(Some(3))
            .max_items(Some(3))
            .into()
    }
}

impl ToSchema for Condition {}

/// A sort key of a query: `[field]` or `[field, "asc" | "desc"]`.
pub struct OrderKey;

impl PartialSchema for OrderKey {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .description(Some("[field, \"asc\" | \"desc\"] (ascending when absent)"))
            .prefix_items([
                Schema::Object(string("a field").build()),
                Schema::Object(
                    string("the direction")
                        .enum_values(Some(["asc", "desc"]))
                        .build(),
                ),
            ])
            .items(ArrayItems::RefOrSchema(Box::new(
                Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()).into(),
            )))
            .min_items(Some(1))
            .max_items(Some(2))
            .into()
    }
}

impl ToSchema for OrderKey {}

// Read here, so that what is read and what is documented are one type, then handed to
// the domain as its `QuerySpec`.
/// A query (see the README for the language).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// Conditions that all hold.
    #[serde(default, rename = "where")]
    #[schema(value_type = Vec<Condition>)]
    pub where_: Vec<Value>,
    /// Lists of conditions of which one list must hold.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<Condition>>)]
    pub any: Vec<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = Vec<OrderKey>)]
    pub order: Vec<Value>,
    /// 1 to 100, default 20.
    pub limit: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
    /// Only these fields (system fields always come).
    pub fields: Option<Vec<String>>,
    /// Ref fields to replace with the records they point to, and `file` fields whose
    /// files to add under `_expand` (`{"<field>": FileInfo | null}`, as the caller may
    /// read them).
    #[serde(default)]
    pub expand: Vec<String>,
    /// Count all matching records (`total`).
    #[serde(default)]
    pub count: bool,
    /// Page-numbered reading instead of cursors.
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

impl From<QueryBody> for QuerySpec {
    fn from(b: QueryBody) -> QuerySpec {
        QuerySpec {
            where_: b.where_,
            any: b.any,
            order: b.order,
            limit: b.limit,
            cursor: b.cursor,
            fields: b.fields,
            expand: b.expand,
            count: b.count,
            page: b.page,
            per_page: b.per_page,
        }
    }
}

/// A record: its system fields and the table's own fields (those the caller may read).
#[derive(Serialize)]
#[serde(transparent)]
pub struct RecordView(pub Value);

impl PartialSchema for RecordView {
    fn schema() -> RefOr<Schema> {
        let nullable =
            || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A record: its system fields and the table's own fields (those the caller may read).",
            ))
            .property("_id", string("time-sortable, unguessable id"))
            .property("_owner", nullable().description(Some("the creator's user id")))
            .property("_group", nullable())
            .property("_created", string("RFC 3339"))
            .property("_updated", string("RFC 3339"))
            .property(
                "_v",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("version, bumped by every change")),
            )
            .property(
                "_expand",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(
                        "With `expand` naming `file` fields: each one's file as `GET /v1/files/{id}` answers it for the caller, or null (no file, or one the caller may not read).",
                    ))
                    .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(
                        Schema::OneOf(
                            utoipa::openapi::schema::OneOfBuilder::new()
                                .item(utoipa::openapi::Ref::from_schema_name("FileInfo"))
                                .item(ObjectBuilder::new().schema_type(Type::Null))
                                .build(),
                        ),
                    )))),
            )
            .required("_id")
            // The table's own fields: any JSON each.
            .additional_properties(Some(AdditionalProperties::RefOr(any_value().into())))
            .into()
    }
}

impl ToSchema for RecordView {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // `_expand` refers to it.
        schemas.push((
            "FileInfo".into(),
            <crate::files::FileInfo as PartialSchema>::schema(),
        ));
        <crate::files::FileInfo as ToSchema>::schemas(schemas);
    }
}

/// A new record, or a change: the table's fields (`null` removes one in a change;
/// `{"$inc": n}`, `{"$append": [..]}`, `{"$remove": [..]}` are operators), and `_group`
/// on create, `_v` on a change.
pub struct RecordInput;

impl PartialSchema for RecordInput {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "The table's fields (`null` removes one in a change; `{\"$inc\": n}`, `{\"$append\": [..]}`, `{\"$remove\": [..]}` are operators), `_group` on create, `_v` on a change.",
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(any_value().into())))
            .into()
    }
}

impl ToSchema for RecordInput {}

/// A page of records.
#[derive(Serialize, ToSchema)]
pub struct QueryPage {
    pub items: Vec<RecordView>,
    /// Present when more may follow: send it back unchanged.
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Candidate rows examined.
    pub scanned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_page: Option<u64>,
}

impl From<QueryResult> for QueryPage {
    fn from(r: QueryResult) -> QueryPage {
        QueryPage {
            items: r.items.into_iter().map(RecordView).collect(),
            cursor: r.cursor,
            total: r.total,
            scanned: r.scanned,
            page: r.page,
            per_page: r.per_page,
            last_page: r.last_page,
        }
    }
}

// Written and read exactly as the domain's `Field` (tested).
/// A field of a table (settings that are unset are absent).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldView {
    pub name: String,
    /// `string text integer number boolean datetime json ref file`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: FieldType,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Any JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Longest string or text, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub min: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index: bool,
    /// The table a ref points into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// A ref holding a list of record ids.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub many: bool,
    /// `owner:group:other` over `r w`; absent: the record ACL decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    /// `text`: users' writes pass WeChat's text check first; a `risky` verdict is 400
    /// `CONTENT_RISKY` and nothing is written (string and text fields; off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub check: Option<ContentCheck>,
    /// What the check's `review` verdict does: `allow` (default) or `refuse` (400
    /// `CONTENT_NEEDS_REVIEW`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub review: Option<ReviewPolicy>,
}

/// A bound as it was most likely written: `0`, not `0.0`, for a whole number (as the
/// domain writes it).
fn whole_as_integer<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => s.serialize_some(&(*x as i64)),
        Some(x) => s.serialize_some(x),
        None => s.serialize_none(),
    }
}

impl From<FieldView> for Field {
    fn from(f: FieldView) -> Field {
        let FieldView {
            name,
            kind,
            required,
            default,
            length,
            min,
            max,
            unique,
            index,
            table,
            many,
            acl,
            check,
            review,
        } = f;
        Field {
            name,
            kind,
            required,
            default,
            length,
            min,
            max,
            unique,
            index,
            table,
            many,
            acl,
            check,
            review,
        }
    }
}

impl From<&Field> for FieldView {
    fn from(f: &Field) -> FieldView {
        // Destructured, so that a field the domain adds does not go missing here.
        let Field {
            name,
            kind,
            required,
            default,
            length,
            min,
            max,
            unique,
            index,
            table,
            many,
            acl,
            check,
            review,
        } = f.clone();
        FieldView {
            name,
            kind,
            required,
            default,
            length,
            min,
            max,
            unique,
            index,
            table,
            many,
            acl,
            check,
            review,
        }
    }
}

/// A table's rules.
#[derive(Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableAclView {
    /// `owner:group:other` over `r w d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// `anyone | users | group:<name> | admins`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    /// The `_group` of records created without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// How far a schema change's back-fill got.
#[derive(Serialize, ToSchema)]
pub struct BackfillView {
    pub done: bool,
    pub scanned: usize,
    pub updated: usize,
}

impl From<Backfill> for BackfillView {
    fn from(b: Backfill) -> BackfillView {
        BackfillView {
            done: b.done,
            scanned: b.scanned,
            updated: b.updated,
        }
    }
}

/// A table as an admin sees it; others get `name`, the `fields` they could read and
/// `version`.
#[derive(Serialize, ToSchema)]
pub struct TableView {
    pub name: String,
    pub fields: Vec<FieldView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acl: Option<TableAclView>,
    pub version: i64,
    /// Indexed fields whose back-fill has not finished (admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_indexes: Option<Vec<String>>,
    /// Event (`before_create` …) → `<module>.<export>` (admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<BTreeMap<String, String>>,
    /// After a change that back-fills existing records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillView>,
}

impl TableView {
    /// All of it (admins).
    pub fn full(s: &TableSchema) -> TableView {
        let acl = s.to_def().acl;
        TableView {
            name: s.name.clone(),
            fields: s.fields.iter().map(Into::into).collect(),
            acl: Some(TableAclView {
                record: acl.record,
                create: acl.create,
                group: acl.group,
            }),
            version: s.version,
            // Declared fields only: the per-owner and per-group copies are internal.
            pending_indexes: Some(
                s.pending
                    .iter()
                    .filter(|p| !p.contains('@') && !p.starts_with('_'))
                    .cloned()
                    .collect(),
            ),
            hooks: Some(s.hooks.clone()),
            backfill: None,
        }
    }

    /// What others see: the fields (as the domain filtered them), no rules.
    pub fn public(s: &TableSchema) -> TableView {
        TableView {
            name: s.name.clone(),
            fields: s.fields.iter().map(Into::into).collect(),
            acl: None,
            version: s.version,
            pending_indexes: None,
            hooks: None,
            backfill: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TableList {
    pub items: Vec<TableView>,
}

// Read as the domain reads its `TableDef` (tested), then handed to it.
/// A table's definition, as an admin puts it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableDefBody {
    pub fields: Vec<FieldView>,
    #[serde(default)]
    pub acl: TableAclView,
    /// `{"before_create": "<module>.<export>", …}`: `before_create`, `before_update`,
    /// `before_delete`, `after_create`, `after_update`, `after_delete`.
    #[serde(default)]
    pub hooks: BTreeMap<String, String>,
}

impl From<TableDefBody> for TableDef {
    fn from(b: TableDefBody) -> TableDef {
        TableDef {
            fields: b.fields.into_iter().map(Into::into).collect(),
            acl: TableAclDef {
                record: b.acl.record,
                create: b.acl.create,
                group: b.acl.group,
            },
            hooks: b.hooks,
        }
    }
}

// Read as the domain reads its `BatchOp` (tested).
/// One batch operation.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum BatchOpBody {
    Create {
        table: String,
        #[schema(value_type = RecordInput)]
        data: Map<String, Value>,
    },
    Update {
        table: String,
        id: String,
        #[schema(value_type = RecordInput)]
        data: Map<String, Value>,
        /// Only while the record is at this version.
        #[serde(rename = "_v")]
        v: Option<i64>,
    },
    Delete {
        table: String,
        id: String,
        #[serde(rename = "_v")]
        v: Option<i64>,
    },
    /// Holds the batch to a record existing (and at version `_v`, if given).
    Check {
        table: String,
        id: String,
        #[serde(rename = "_v")]
        v: Option<i64>,
    },
}

impl From<BatchOpBody> for BatchOp {
    fn from(o: BatchOpBody) -> BatchOp {
        match o {
            BatchOpBody::Create { table, data } => BatchOp::Create { table, data },
            BatchOpBody::Update { table, id, data, v } => BatchOp::Update { table, id, data, v },
            BatchOpBody::Delete { table, id, v } => BatchOp::Delete { table, id, v },
            BatchOpBody::Check { table, id, v } => BatchOp::Check { table, id, v },
        }
    }
}

/// Operations across tables, run as one transaction.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    pub ops: Vec<BatchOpBody>,
}

/// Results in the order of the operations: the record for a create or an update,
/// `{"_id", "deleted": true}` for a delete, `{"_id", "checked": true}` for a check.
#[derive(Serialize, ToSchema)]
pub struct BatchAnswer {
    pub results: Vec<RecordView>,
}

// ---- cloud functions ------------------------------------------------------------------

/// `POST /v1/fn/{module}/{export}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    /// The export's arguments, in order: any JSON values.
    #[serde(default)]
    pub args: Vec<Value>,
}

/// `POST /v1/fn/{module}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallData {
    /// `main`'s one argument: any JSON value.
    #[serde(default)]
    pub data: Value,
}

#[derive(Serialize, ToSchema)]
pub struct CallAnswer {
    /// Whatever the function returned (`null` for `undefined`).
    pub result: Value,
}

/// An export's settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportSettingsBody {
    /// `anyone`, `users`, `group:<g>`, `admins` or `nobody` (hooks and schedules only).
    #[serde(default)]
    pub access: Option<String>,
    /// Cron, UTC: `minute hour day month weekday`, optionally with seconds first.
    #[serde(default)]
    pub schedule: Option<String>,
}

// Read as the domain reads its `ModuleInput` (tested), then handed to it.
/// What an admin deploys.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleBody {
    /// One ES module; its exported functions are callable. It may import only `yunqiao`.
    pub source: String,
    /// Who may call its exports: `anyone`, `users` (default), `group:<g>`, `admins`,
    /// `nobody`.
    #[serde(default)]
    pub access: Option<String>,
    /// Per export: `{access, schedule}`.
    #[serde(default)]
    pub exports: BTreeMap<String, ExportSettingsBody>,
    /// 10 to 25000, default 5000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// 8 to 512, default 64.
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Names of server secrets `secrets.get` may read.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// `host` or `host:port` that `http.fetch` may reach.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl From<ModuleBody> for ModuleInput {
    fn from(b: ModuleBody) -> ModuleInput {
        ModuleInput {
            source: b.source,
            access: b.access,
            exports: b
                .exports
                .into_iter()
                .map(|(name, e)| {
                    let settings = ExportSettings {
                        access: e.access,
                        schedule: e.schedule,
                    };
                    (name, settings)
                })
                .collect(),
            timeout_ms: b.timeout_ms,
            memory_mb: b.memory_mb,
            secrets: b.secrets,
            hosts: b.hosts,
        }
    }
}

// The function service writes its admin answers as JSON; they are read into these views
// and answered from them, so what is documented is what is sent ([`typed`]).

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FunctionExportView {
    pub name: String,
    pub access: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// A deployed module (with `source` and `current_version` when read one by one).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FunctionModuleView {
    pub name: String,
    pub version: i64,
    pub exports: Vec<FunctionExportView>,
    pub access: String,
    pub timeout_ms: u64,
    pub memory_mb: u64,
    pub secrets: Vec<String>,
    pub hosts: Vec<String>,
    pub source_bytes: u64,
    pub sha256: String,
    /// RFC 3339, UTC.
    pub deployed_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionModuleList {
    pub items: Vec<FunctionModuleView>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FunctionVersionView {
    /// The module's deploy version (numbers the module's definitions, not data).
    pub version: i64,
    /// RFC 3339, UTC.
    pub deployed_at: String,
    pub source_bytes: u64,
    pub sha256: String,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionVersionList {
    pub items: Vec<FunctionVersionView>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FunctionLogLineView {
    /// `log`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

/// One call of a module.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FunctionLogView {
    /// When the call started: RFC 3339, UTC.
    pub at: String,
    pub request_id: String,
    pub export: String,
    pub version: i64,
    /// `call`, `hook`, `schedule` or `wechat_event`.
    pub trigger: String,
    /// A user id, `admin` or `anonymous`.
    pub caller: String,
    /// Kept as stored (a whole number may be written without a fraction).
    #[schema(value_type = f64)]
    pub duration_ms: serde_json::Number,
    pub logs: Vec<FunctionLogLineView>,
    /// `ok` or the error code answered.
    pub outcome: String,
    /// The error, with the stack for exceptions (never sent to the caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionLogPage {
    pub items: Vec<FunctionLogView>,
}

/// An after-hook (or after-payment action) still waiting.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OutboxItemView {
    pub id: String,
    /// `<module>.<export>`.
    pub hook: Option<String>,
    /// `create`, `update` or `delete`.
    pub op: Option<String>,
    pub table: Option<String>,
    pub record_id: Option<String>,
    /// An after-payment item's order (`out_trade_no`).
    pub order: Option<String>,
    /// An after-payment item's action: `on_paid …`, `actions[i] …`, `message pay.paid`,
    /// `publish <topic>`.
    pub name: Option<String>,
    pub attempts: i64,
    /// When it is tried next: RFC 3339, UTC.
    pub next_at: Option<String>,
    pub last_error: Option<String>,
    /// Gave up after repeated failures; `POST …/retry` starts it again.
    pub dead: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxItemView>,
}

/// A JSON answer of the domain read into its view. In debug builds (every test) the view
/// must write it back unchanged, so a view that drops or reshapes a field fails the tests
/// instead of changing what clients get.
pub fn typed<T: Serialize + serde::de::DeserializeOwned>(v: Value) -> Result<T, crate::ApiError> {
    #[cfg(debug_assertions)]
    let original = v.clone();
    let t: T = serde_json::from_value(v).map_err(|e| {
        crate::ApiError(yunqiao_core::Error::internal(format!(
            "an answer does not fit its view: {e}"
        )))
    })?;
    #[cfg(debug_assertions)]
    debug_assert_eq!(serde_json::to_value(&t).ok(), Some(original));
    Ok(t)
}

/// [`typed`] for each of a list.
pub fn typed_all<T: Serialize + serde::de::DeserializeOwned>(
    vs: Vec<Value>,
) -> Result<Vec<T>, crate::ApiError> {
    vs.into_iter().map(typed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field answers exactly as the domain writes it, set or unset.
    #[test]
    fn a_field_view_is_the_domain_field() {
        for raw in [
            json!({"name": "n", "type": "number"}),
            json!({"name": "r", "type": "ref", "required": true, "default": [1, "x"],
                "length": 3, "min": 0.0, "max": 2.5, "unique": true, "index": true,
                "table": "t", "many": true, "acl": "rw:r:-"}),
            json!({"name": "t", "type": "text", "check": "text", "review": "refuse"}),
        ] {
            let f: Field = serde_json::from_value(raw).unwrap();
            assert_eq!(
                serde_json::to_value(FieldView::from(&f)).unwrap(),
                serde_json::to_value(&f).unwrap()
            );
        }
    }

    /// A table definition and a batch read as the domain reads them: the same values,
    /// the same refusals.
    #[test]
    fn table_definitions_and_batches_read_as_the_domain_reads_them() {
        let def = json!({"fields": [{"name": "n", "type": "number", "min": 1, "index": true}],
            "acl": {"record": "rwd:r:-", "create": "users", "group": "g"},
            "hooks": {"after_create": "m.e"}});
        let ours = TableDef::from(serde_json::from_value::<TableDefBody>(def.clone()).unwrap());
        let theirs: TableDef = serde_json::from_value(def).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        for bad in [
            json!({"fields": [{"name": "n", "type": "nope"}]}),
            json!({"fields": [{"name": "n", "type": "string", "lenght": 3}]}),
            json!({"fields": [], "acl": {"read": "x"}}),
            json!({"fields": [], "extra": 1}),
            json!({"acl": {}}),
        ] {
            let ours = serde_json::from_value::<TableDefBody>(bad.clone())
                .err()
                .map(|e| e.to_string());
            let theirs = serde_json::from_value::<TableDef>(bad)
                .err()
                .map(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
        let ops = json!([{"op": "create", "table": "t", "data": {"a": 1}},
            {"op": "update", "table": "t", "id": "x", "data": {}, "_v": 2},
            {"op": "delete", "table": "t", "id": "x"}, {"op": "check", "table": "t", "id": "y", "_v": 1}]);
        let ours: Vec<BatchOp> = serde_json::from_value::<Vec<BatchOpBody>>(ops.clone())
            .unwrap()
            .into_iter()
            .map(Into::into)
            .collect();
        let theirs: Vec<BatchOp> = serde_json::from_value(ops).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        for bad in [
            json!({"op": "upsert", "table": "t"}),
            json!({"op": "delete", "table": "t"}),
            json!({"op": "delete", "table": "t", "id": "x", "data": {}}),
            json!({"table": "t"}),
        ] {
            let ours = serde_json::from_value::<BatchOpBody>(bad.clone())
                .err()
                .map(|e| e.to_string());
            let theirs = serde_json::from_value::<BatchOp>(bad)
                .err()
                .map(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
    }

    /// A key-value write's version is `_v`; the old `version` is refused, by name.
    #[test]
    fn a_kv_write_takes_its_version_as_v() {
        let b: KvPutBody = serde_json::from_value(json!({"value": 1, "_v": 3})).unwrap();
        assert_eq!(PutEntry::from(b).version, Some(3));
        let e = serde_json::from_value::<KvPutBody>(json!({"value": 1, "version": 3}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("unknown field `version`") && e.contains("`_v`"),
            "{e}"
        );
        let view = KvEntryView::from(Entry {
            key: "k".into(),
            value: json!(1),
            version: 4,
            created_at: 0,
            updated_at: 1_000,
            expires_at: None,
        });
        assert_eq!(
            serde_json::to_value(view).unwrap(),
            json!({"key": "k", "value": 1, "_v": 4, "created_at": "1970-01-01T00:00:00.000Z",
                "updated_at": "1970-01-01T00:00:01.000Z"})
        );
    }

    /// Profile changes, key-value writes and namespace definitions read as the domain
    /// reads them: absent, `null` and a value stay apart, and refusals are the same.
    #[test]
    fn kv_and_profile_bodies_read_as_the_domain_reads_them() {
        fn same<Ours, Theirs>(raw: Value)
        where
            Ours: serde::de::DeserializeOwned + Into<Theirs>,
            Theirs: serde::de::DeserializeOwned + std::fmt::Debug,
        {
            let ours = serde_json::from_value::<Ours>(raw.clone())
                .map(|o| format!("{:?}", o.into()))
                .map_err(|e| e.to_string());
            let theirs = serde_json::from_value::<Theirs>(raw)
                .map(|t| format!("{t:?}"))
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
        for raw in [
            json!({}),
            json!({"nickname": null}),
            json!({"nickname": "n", "avatar_url": null, "profile": {"a": null, "b": [1]}}),
            json!({"avatar_file": "01JFILE"}),
            json!({"avatar_file": null}),
            json!({"avatar_file": 7}),
            json!({"nickname": 1}),
            json!({"nick": "x"}),
        ] {
            same::<ProfileBody, ProfilePatch>(raw);
        }
        for raw in [
            json!({}),
            json!({"value": null}),
            json!({"value": [1, {"a": "b"}], "ttl": 60, "_v": 2}),
            // Renamed `_v`: refused, never read as an unconditional write.
            json!({"value": 1, "version": 2}),
            json!({"value": 1, "ttl": "x"}),
            json!({"value": 1, "create_only": true}),
        ] {
            same::<KvPutBody, PutEntry>(raw);
        }
        for raw in [
            json!({}),
            json!({"read": "anyone", "write": "admins", "scope": "user"}),
            json!({"read": 1}),
            json!({"owner": "x"}),
        ] {
            same::<KvNamespaceBody, NamespaceDef>(raw);
        }
    }

    /// A module to deploy reads as the domain reads it.
    #[test]
    fn a_module_body_reads_as_the_domain_reads_it() {
        let raw = json!({"source": "export function f() {}", "access": "users",
            "exports": {"f": {"access": "anyone", "schedule": "* * * * *"}},
            "timeout_ms": 100, "memory_mb": 16, "secrets": ["S"], "hosts": ["h:1"]});
        let ours = ModuleInput::from(serde_json::from_value::<ModuleBody>(raw.clone()).unwrap());
        let theirs: ModuleInput = serde_json::from_value(raw).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        for bad in [
            json!({}),
            json!({"source": "", "exports": {"f": {"acces": "x"}}}),
            json!({"source": "", "timeout_ms": -1}),
            json!({"source": "", "other": 1}),
        ] {
            let ours = serde_json::from_value::<ModuleBody>(bad.clone())
                .err()
                .map(|e| e.to_string());
            let theirs = serde_json::from_value::<ModuleInput>(bad)
                .err()
                .map(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
    }

    /// What a query reads is the domain's query: the same fields, the same refusals.
    #[test]
    fn a_query_body_reads_as_the_domain_query() {
        let raw = json!({"where": [["a", "eq", 1]], "any": [[["b", "gt", 2]]],
            "order": [["a", "desc"]], "limit": 5, "cursor": "c", "fields": ["a"],
            "expand": ["r"], "count": true, "page": 2, "per_page": 10});
        let ours = QuerySpec::from(serde_json::from_value::<QueryBody>(raw.clone()).unwrap());
        let theirs: QuerySpec = serde_json::from_value(raw).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        for bad in [
            json!({"wher": []}),
            json!({"limit": "x"}),
            json!({"where": 1}),
        ] {
            let ours = serde_json::from_value::<QueryBody>(bad.clone())
                .err()
                .map(|e| e.to_string());
            let theirs = serde_json::from_value::<QuerySpec>(bad)
                .err()
                .map(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
    }
}
