//! `/v1/tables`: schemas (admins) and records (under each table's ACL).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use yunqiao_core::Code;
use yunqiao_core::tables::TableDef;

use crate::AppState;
use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiQuery, ApiResult, ErrorBody, error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tables", get(list_tables))
        .route("/v1/tables/{table}", get(get_table).put(put_table))
        .route("/v1/tables/{table}/records", post(create_record))
        .route(
            "/v1/tables/{table}/records/{id}",
            get(get_record).patch(update_record).delete(delete_record),
        )
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PutParams {
    /// `true` to allow a change that drops fields.
    pub drop: Option<String>,
}

fn table_view(s: &yunqiao_core::tables::Schema) -> Value {
    json!({ "name": s.name, "fields": s.fields, "acl": s.to_def().acl })
}

/// Create or change a table (admins).
#[utoipa::path(put, path = "/v1/tables/{table}", tag = "tables", security(("bearer" = [])), params(PutParams),
    request_body(content = Object, description = "{fields: [...], acl: {record, create, group}}"),
    responses((status = 200, description = "changed"), (status = 201, description = "created"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_table(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    Path(table): Path<String>,
    ApiQuery(p): ApiQuery<PutParams>,
    ApiJson(def): ApiJson<TableDef>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let allow_drop = match p.drop.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(error(Code::InvalidArgument, "drop is true or false")),
    };
    let (schema, created) = s.tables.put_schema(&c, &table, &def, allow_drop).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(table_view(&schema))))
}

/// All tables (admins).
#[utoipa::path(get, path = "/v1/tables", tag = "tables", security(("bearer" = [])),
    responses((status = 200, description = "{items: [table]}"), (status = 403, body = ErrorBody)))]
pub async fn list_tables(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
) -> ApiResult<Json<Value>> {
    let all = s.tables.list_schemas(&c).await?;
    Ok(Json(
        json!({ "items": all.iter().map(table_view).collect::<Vec<_>>() }),
    ))
}

/// One table's schema (anyone: clients build forms from it; it holds no data).
#[utoipa::path(get, path = "/v1/tables/{table}", tag = "tables",
    responses((status = 200, description = "the table"), (status = 404, body = ErrorBody)))]
pub async fn get_table(
    State(s): State<AppState>,
    Path(table): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(table_view(&s.tables.schema(&table).await?)))
}

/// Create a record; answers it with its system fields.
#[utoipa::path(post, path = "/v1/tables/{table}/records", tag = "tables", security(("bearer" = [])),
    request_body(content = Object),
    responses((status = 201, description = "the record"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    Path(table): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.tables.create(&c, &table, body).await?),
    ))
}

#[utoipa::path(get, path = "/v1/tables/{table}/records/{id}", tag = "tables", security(("bearer" = [])),
    responses((status = 200, description = "the record, with the fields the caller may read"), (status = 404, body = ErrorBody)))]
pub async fn get_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    Path((table, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.tables.get(&c, &table, &id).await?))
}

/// Change fields; `{"field": {"$inc": n}}` increments atomically; `_v` in the body or
/// `If-Match: <v>` makes the change conditional on that version (409 if stale).
#[utoipa::path(patch, path = "/v1/tables/{table}/records/{id}", tag = "tables", security(("bearer" = [])),
    request_body(content = Object),
    responses((status = 200, description = "the record"), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    Path((table, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let if_match = match headers.get("if-match") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|s| s.trim().trim_matches('"'))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    error(
                        Code::InvalidArgument,
                        "If-Match takes a record version (_v)",
                    )
                })?,
        ),
    };
    Ok(Json(
        s.tables.update(&c, &table, &id, body, if_match).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/tables/{table}/records/{id}", tag = "tables", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    Path((table, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.tables.delete(&c, &table, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
