//! `/v1/kv`: key-value storage (bucky's `setObject` / `getObject` / `removeObject` /
//! `isObjectExists`) in namespaces admins define. The rules live in
//! [`yunqiao_core::kv`]; this is only HTTP.
//!
//! `GET /v1/kv/{ns}` is the namespace as a whole: a page of its entries for whoever may
//! read them, plus — for admins — its definition at the top level, so that the same URL
//! an admin `PUT`s the definition to reads it back, and no key name is reserved for a
//! separate listing or definition route.

use axum::Json;
use axum::extract::State;
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use utoipa_axum::routes;
use yunqiao_core::Error;
use yunqiao_core::kv::{ListParams, PutEntry};

use crate::caller::AnyCaller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody, Object};
use crate::views::{
    KvEntryView, KvNamespaceBody, KvNamespaceList, KvNamespaceView, KvPage, KvPutBody,
};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_namespaces))
        .routes(routes!(list_keys, put_namespace))
        .routes(routes!(get_key, head_key, put_key, delete_key))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyParams {
    /// In a user-scoped namespace: whose keys (admins; users may name only themselves).
    pub user: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListKeysParams {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// From the previous page.
    pub cursor: Option<String>,
    /// In a user-scoped namespace: whose keys (admins; users may name only themselves).
    pub user: Option<String>,
}

type Etag = [(HeaderName, HeaderValue); 1];

/// The entry's version (`_v`) as an entity tag: `"3"`.
fn etag(version: i64) -> Etag {
    let v = HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    [(ETAG, v)]
}

/// `If-Match: <_v>` (quoted or not).
fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError(Error::invalid_field(
                "If-Match",
                "If-Match takes an entry's version (_v), e.g. \"3\"",
            ))
        })
}

/// `If-None-Match: *`: create only.
fn create_only(headers: &HeaderMap) -> ApiResult<bool> {
    match headers.get(IF_NONE_MATCH) {
        None => Ok(false),
        Some(v) if v.as_bytes().trim_ascii() == b"*" => Ok(true),
        Some(_) => Err(ApiError(Error::invalid_field(
            "If-None-Match",
            "If-None-Match takes only * (create only)",
        ))),
    }
}

/// Every namespace (admins).
#[utoipa::path(get, path = "/v1/kv", tag = "kv", security(("bearer" = [])),
    responses((status = 200, body = KvNamespaceList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_namespaces(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
) -> ApiResult<Json<KvNamespaceList>> {
    let all = s.kv.list_namespaces(&c).await?;
    Ok(Json(KvNamespaceList {
        items: all.into_iter().map(Into::into).collect(),
    }))
}

/// Define or change a namespace (admins): who may read and write its keys, and whether
/// the keys are shared or private to each user. The scope is fixed once created.
#[utoipa::path(put, path = "/v1/kv/{ns}", tag = "kv", security(("bearer" = [])),
    request_body = KvNamespaceBody,
    responses((status = 200, body = KvNamespaceView, description = "changed"), (status = 201, body = KvNamespaceView, description = "created"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_namespace(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(Object(def)): ApiJson<Object<KvNamespaceBody>>,
) -> ApiResult<(StatusCode, Json<KvNamespaceView>)> {
    let (ns, created) = s.kv.put_namespace(&c, &ns, &def.into()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ns.into())))
}

/// List entries in key order, optionally under a prefix, a page at a time. Admins also
/// get the namespace's definition (`name`, `read`, `write`, `scope`, …) at the top level.
#[utoipa::path(get, path = "/v1/kv/{ns}", tag = "kv", security(("bearer" = [])), params(ListKeysParams),
    responses((status = 200, body = KvPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_keys(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(p): ApiQuery<ListKeysParams>,
) -> ApiResult<Json<KvPage>> {
    let limit = match p.limit.as_deref() {
        None => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            ApiError(Error::invalid_field(
                "limit",
                format!("limit is 1 to {}", yunqiao_core::kv::MAX_LIST_LIMIT),
            ))
        })?),
    };
    let params = ListParams {
        prefix: p.prefix,
        limit,
        cursor: p.cursor,
    };
    let (ns, page) = s.kv.list(&c, &ns, p.user.as_deref(), params).await?;
    Ok(Json(KvPage {
        namespace: c.is_admin().then(|| ns.into()),
        items: page.items.into_iter().map(Into::into).collect(),
        cursor: page.cursor,
    }))
}

/// `getObject`: the entry, with its version as the `ETag`.
#[utoipa::path(get, path = "/v1/kv/{ns}/{key}", tag = "kv", security(("bearer" = [])), params(KeyParams),
    responses((status = 200, body = KvEntryView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_key(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((ns, key)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<KeyParams>,
) -> ApiResult<(Etag, Json<KvEntryView>)> {
    let e = s.kv.get(&c, &ns, &key, p.user.as_deref()).await?;
    Ok((etag(e.version), Json(e.into())))
}

/// `isObjectExists`: 200 when the key exists, 404 when not; no body.
#[utoipa::path(head, path = "/v1/kv/{ns}/{key}", tag = "kv", security(("bearer" = [])), params(KeyParams),
    responses((status = 200, description = "exists"), (status = 404, description = "absent"),
        (status = 400), (status = 401), (status = 403)))]
pub async fn head_key(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((ns, key)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<KeyParams>,
) -> ApiResult<StatusCode> {
    if s.kv.exists(&c, &ns, &key, p.user.as_deref()).await? {
        Ok(StatusCode::OK)
    } else {
        Ok(StatusCode::NOT_FOUND)
    }
}

/// `setObject`: create or replace. `_v` (or `If-Match: <_v>`) writes only while the entry
/// is at that version, `If-None-Match: *` only while the key is absent: 409 `CONFLICT`
/// otherwise, with `details` `{"field": "_v", "current_v": n}` (`null` when absent). Each write sets the expiry afresh:
/// without `ttl` the entry is permanent.
#[utoipa::path(put, path = "/v1/kv/{ns}/{key}", tag = "kv", security(("bearer" = [])), params(KeyParams),
    request_body = KvPutBody,
    responses((status = 200, body = KvEntryView, description = "replaced"), (status = 201, body = KvEntryView, description = "created"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn put_key(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((ns, key)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<KeyParams>,
    headers: HeaderMap,
    ApiJson(Object(input)): ApiJson<Object<KvPutBody>>,
) -> ApiResult<(StatusCode, Etag, Json<KvEntryView>)> {
    let mut input = PutEntry::from(input);
    input.create_only = create_only(&headers)?;
    if let Some(v) = if_match(&headers)? {
        if input.version.is_some_and(|b| b != v) {
            return Err(ApiError(Error::invalid_field(
                "_v",
                "the body's _v and If-Match differ",
            )));
        }
        input.version = Some(v);
    }
    let (e, created) = s.kv.put(&c, &ns, &key, p.user.as_deref(), input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, etag(e.version), Json(e.into())))
}

/// `removeObject`: 204, or 404 when absent. `If-Match: <_v>` deletes only while the entry
/// is at that version (409 otherwise).
#[utoipa::path(delete, path = "/v1/kv/{ns}/{key}", tag = "kv", security(("bearer" = [])), params(KeyParams),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_key(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath((ns, key)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<KeyParams>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let version = if_match(&headers)?;
    s.kv.delete(&c, &ns, &key, p.user.as_deref(), version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
