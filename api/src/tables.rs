//! `/v1/tables`: schemas (admins) and records (under each table's ACL).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa_axum::routes;
use yunqiao_core::Code;

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody, error};
use crate::views::{
    BatchAnswer, BatchBody, QueryBody, QueryPage, RecordInput, RecordView, TableDefBody, TableList,
    TableView,
};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_tables))
        .routes(routes!(get_table, put_table))
        .routes(routes!(create_record))
        .routes(routes!(query_records))
        .routes(routes!(backfill))
        .routes(routes!(batch))
        .routes(routes!(get_record, update_record, delete_record))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PutParams {
    /// `true` to allow a change that drops fields.
    pub drop: Option<String>,
}

/// Create or change a table (admins).
#[utoipa::path(put, path = "/v1/tables/{table}", tag = "tables", security(("bearer" = [])), params(PutParams),
    request_body = TableDefBody,
    responses((status = 200, description = "changed", body = TableView), (status = 201, description = "created", body = TableView), (status = 202, description = "changed; the back-fill continues with POST /v1/tables/{table}/backfill", body = TableView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_table(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(table): ApiPath<String>,
    ApiQuery(p): ApiQuery<PutParams>,
    ApiJson(def): ApiJson<TableDefBody>,
) -> ApiResult<(StatusCode, Json<TableView>)> {
    let allow_drop = match p.drop.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(error(Code::InvalidArgument, "drop is true or false")),
    };
    let (schema, created, backfill) = s
        .tables
        .put_schema(&c, &table, &def.into(), allow_drop)
        .await?;
    let status = match (&backfill, created) {
        (_, true) => StatusCode::CREATED,
        // Not finished within the request: POST /v1/tables/{table}/backfill continues.
        (Some(b), _) if !b.done => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    let mut view = TableView::full(&schema);
    view.backfill = backfill.map(Into::into);
    Ok((status, Json(view)))
}

/// Continue a schema change's back-fill of existing records (admins).
#[utoipa::path(post, path = "/v1/tables/{table}/backfill", tag = "tables", security(("bearer" = [])),
    responses((status = 200, description = "finished", body = TableView), (status = 202, description = "more to do: call again", body = TableView), (status = 409, body = ErrorBody)))]
pub async fn backfill(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(table): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<TableView>)> {
    let (schema, b) = s.tables.backfill(&c, &table).await?;
    let status = if b.done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut view = TableView::full(&schema);
    view.backfill = Some(b.into());
    Ok((status, Json(view)))
}

/// Query records: `{where, any, order, limit, cursor, fields, expand, count, page, per_page}`.
/// Rows the caller may not read are never returned; see the README for the language.
#[utoipa::path(post, path = "/v1/tables/{table}/query", tag = "tables", security(("bearer" = [])),
    request_body = QueryBody,
    responses((status = 200, description = "a page of records", body = QueryPage), (status = 400, body = ErrorBody)))]
pub async fn query_records(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(table): ApiPath<String>,
    ApiJson(spec): ApiJson<QueryBody>,
) -> ApiResult<Json<QueryPage>> {
    Ok(Json(s.tables.query(&c, &table, spec.into()).await?.into()))
}

/// Creates, updates, deletes and checks across tables in one transaction: all or nothing.
#[utoipa::path(post, path = "/v1/batch", tag = "tables", security(("bearer" = [])),
    request_body = BatchBody,
    responses((status = 200, description = "results in the order of ops", body = BatchAnswer),
        (status = 400, description = "`INVALID_ARGUMENT`…, or `FILE_NOT_USABLE` (a `file` field, as on create)", body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn batch(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiJson(body): ApiJson<BatchBody>,
) -> ApiResult<Json<BatchAnswer>> {
    let ops = body.ops.into_iter().map(Into::into).collect();
    let results = s.tables.batch(&c, ops).await?;
    Ok(Json(BatchAnswer {
        results: results.into_iter().map(RecordView).collect(),
    }))
}

/// All tables (admins).
#[utoipa::path(get, path = "/v1/tables", tag = "tables", security(("bearer" = [])),
    responses((status = 200, description = "every table", body = TableList), (status = 403, body = ErrorBody)))]
pub async fn list_tables(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
) -> ApiResult<Json<TableList>> {
    let all = s.tables.list_schemas(&c).await?;
    Ok(Json(TableList {
        items: all.iter().map(TableView::full).collect(),
    }))
}

/// One table's schema. Admins get all of it; users (and anonymous callers, for tables
/// anyone reads) get the fields they could read, without rules: clients build forms
/// from it.
#[utoipa::path(get, path = "/v1/tables/{table}", tag = "tables",
    responses((status = 200, description = "the table", body = TableView), (status = 404, body = ErrorBody)))]
pub async fn get_table(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(table): ApiPath<String>,
) -> ApiResult<Json<TableView>> {
    let (schema, full) = s.tables.schema_for(&c, &table).await?;
    Ok(Json(if full {
        TableView::full(&schema)
    } else {
        TableView::public(&schema)
    }))
}

/// Create a record; answers it with its system fields.
#[utoipa::path(post, path = "/v1/tables/{table}/records", tag = "tables", security(("bearer" = [])),
    request_body = RecordInput,
    responses((status = 201, description = "the record", body = RecordView),
        (status = 400, description = "`INVALID_ARGUMENT`, `UNKNOWN_FIELD`…, or `FILE_NOT_USABLE`: a `file` field names a file that is missing, not ready, or neither yours nor public", body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn create_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(table): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<RecordView>)> {
    Ok((
        StatusCode::CREATED,
        Json(RecordView(s.tables.create(&c, &table, body).await?)),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// Comma-separated fields: ref fields are replaced with the records they point to;
    /// `file` fields add their files under `_expand` (`{"<field>": FileInfo | null}`,
    /// `null` when the caller may not read the file or it is gone).
    pub expand: Option<String>,
}

#[utoipa::path(get, path = "/v1/tables/{table}/records/{id}", tag = "tables", security(("bearer" = [])), params(GetParams),
    responses((status = 200, description = "the record, with the fields the caller may read", body = RecordView),
        (status = 400, description = "`INVALID_QUERY`: `expand` names a field that is neither a ref nor a file field", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((table, id)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<GetParams>,
) -> ApiResult<Json<RecordView>> {
    let expand: Vec<String> = p
        .expand
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Json(RecordView(
        s.tables.get(&c, &table, &id, &expand).await?,
    )))
}

/// Change fields; `{"field": {"$inc": n}}` increments atomically; `_v` in the body or
/// `If-Match: <v>` makes the change conditional on that version (409 if stale).
#[utoipa::path(patch, path = "/v1/tables/{table}/records/{id}", tag = "tables", security(("bearer" = [])),
    request_body = RecordInput,
    responses((status = 200, description = "the record", body = RecordView),
        (status = 400, description = "`INVALID_ARGUMENT`…, or `FILE_NOT_USABLE` (a `file` field, as on create)", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((table, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<RecordView>> {
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
    Ok(Json(RecordView(
        s.tables.update(&c, &table, &id, body, if_match).await?,
    )))
}

#[utoipa::path(delete, path = "/v1/tables/{table}/records/{id}", tag = "tables", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_record(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((table, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    s.tables.delete(&c, &table, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
