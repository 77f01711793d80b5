//! Cloud functions over HTTP: `POST /v1/fn/{module}/{export}` and `/v1/fn/{module}`
//! (calls), `/v1/functions/…` (deploy, read, logs; admins). The rules are in
//! [`yunqiao_core::functions`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa_axum::routes;

use crate::caller::AnyCaller;
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::views::{
    CallAnswer, CallBody, CallData, FunctionLogPage, FunctionModuleList, FunctionModuleView,
    FunctionVersionList, ModuleBody, OutboxPage, typed, typed_all,
};
use crate::{ApiRouter, AppState};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(call_main))
        .routes(routes!(call_export))
        .routes(routes!(list_modules))
        .routes(routes!(list_outbox))
        .routes(routes!(retry_outbox))
        .routes(routes!(get_module, put_module, delete_module))
        .routes(routes!(list_versions))
        .routes(routes!(list_logs))
}

/// The request's id, as the request-id layer set it (a client's own only when it is
/// short and plain: [`crate::valid_request_id`]).
fn request_id(h: &HeaderMap) -> String {
    h.get("x-request-id")
        .filter(|v| crate::valid_request_id(v.as_bytes()))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// Calls an export: `{"args": [...]}` → `{"result": ...}`. The function sees the caller
/// from the session, never from the body.
#[utoipa::path(post, path = "/v1/fn/{module}/{export}", tag = "functions", security((), ("bearer" = [])),
    request_body = CallBody,
    responses((status = 200, description = "what the export returned", body = CallAnswer),
        (status = "4XX", description = "refused: the function's own code (`FunctionError`) or ours", body = ErrorBody),
        (status = 429, description = "`FUNCTION_BUSY`: the caller, the module or the queue is at its limit, or no worker freed up within the call's time limit (`details.reason`)", body = ErrorBody),
        (status = 500, description = "`FUNCTION_FAILED` (with the request id; the stack is in the logs), `FUNCTION_OUT_OF_MEMORY`, `FUNCTION_STACK_OVERFLOW`, `FUNCTION_RESULT_TOO_LARGE`, `HOOK_DEPTH_EXCEEDED`", body = ErrorBody),
        (status = 504, description = "`FUNCTION_TIMEOUT`", body = ErrorBody)))]
pub async fn call_export(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    headers: HeaderMap,
    ApiPath((module, export)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CallBody>,
) -> ApiResult<Json<CallAnswer>> {
    let result = s
        .functions
        .call(&c, &module, &export, body.args, &request_id(&headers))
        .await?;
    Ok(Json(CallAnswer { result }))
}

/// Calls the module's `main` export with `{"data": ...}` (CloudBase's `callFunction`).
#[utoipa::path(post, path = "/v1/fn/{module}", tag = "functions", security((), ("bearer" = [])),
    request_body = CallData,
    responses((status = 200, description = "what `main` returned", body = CallAnswer),
        (status = "4XX", description = "refused: the function's own code or ours", body = ErrorBody),
        (status = 429, description = "`FUNCTION_BUSY` (see the call of an export)", body = ErrorBody),
        (status = 500, description = "the function failed", body = ErrorBody),
        (status = 504, description = "`FUNCTION_TIMEOUT`", body = ErrorBody)))]
pub async fn call_main(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    headers: HeaderMap,
    ApiPath(module): ApiPath<String>,
    ApiJson(body): ApiJson<CallData>,
) -> ApiResult<Json<CallAnswer>> {
    let result = s
        .functions
        .call(&c, &module, "main", vec![body.data], &request_id(&headers))
        .await?;
    Ok(Json(CallAnswer { result }))
}

/// Deploys a new version of a module (admins). The source is compiled first: a module
/// that does not load is `FUNCTION_INVALID` and the running version stays.
#[utoipa::path(put, path = "/v1/functions/{module}", tag = "functions", security(("bearer" = [])),
    request_body = ModuleBody,
    responses((status = 200, description = "a new version", body = FunctionModuleView), (status = 201, description = "the first version", body = FunctionModuleView)))]
pub async fn put_module(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(module): ApiPath<String>,
    ApiJson(input): ApiJson<ModuleBody>,
) -> ApiResult<(StatusCode, Json<FunctionModuleView>)> {
    let (view, created) = s.functions.deploy(&c, &module, input.into()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(typed(view)?)))
}

/// Every module (admins), without sources.
#[utoipa::path(get, path = "/v1/functions", tag = "functions", security(("bearer" = [])),
    responses((status = 200, body = FunctionModuleList)))]
pub async fn list_modules(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
) -> ApiResult<Json<FunctionModuleList>> {
    Ok(Json(FunctionModuleList {
        items: typed_all(s.functions.list(&c).await?)?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionParams {
    /// An older version (default: the current one).
    pub version: Option<String>,
}

/// A module with its source (admins).
#[utoipa::path(get, path = "/v1/functions/{module}", tag = "functions", security(("bearer" = [])), params(VersionParams),
    responses((status = 200, body = FunctionModuleView)))]
pub async fn get_module(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(module): ApiPath<String>,
    ApiQuery(p): ApiQuery<VersionParams>,
) -> ApiResult<Json<FunctionModuleView>> {
    let version =
        match p.version {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                yunqiao_core::Error::invalid_field("version", "version is a number")
            })?),
        };
    Ok(Json(typed(s.functions.get(&c, &module, version).await?)?))
}

/// Removes a module and its versions (admins).
#[utoipa::path(delete, path = "/v1/functions/{module}", tag = "functions", security(("bearer" = [])),
    responses((status = 204, description = "removed")))]
pub async fn delete_module(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(module): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.functions.delete(&c, &module).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The versions kept of a module, newest first (admins).
#[utoipa::path(get, path = "/v1/functions/{module}/versions", tag = "functions", security(("bearer" = [])),
    responses((status = 200, body = FunctionVersionList)))]
pub async fn list_versions(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(module): ApiPath<String>,
) -> ApiResult<Json<FunctionVersionList>> {
    Ok(Json(FunctionVersionList {
        items: typed_all(s.functions.versions(&c, &module).await?)?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// 1 to 200, default 50.
    pub limit: Option<String>,
}

fn limit(p: &LimitParams, default: usize) -> ApiResult<usize> {
    match &p.limit {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                yunqiao_core::Error::invalid_field("limit", "limit is a number from 1").into()
            }),
    }
}

/// The module's recent calls, newest first (admins): caller, duration, outcome,
/// `console` output and, for failures, the error with its stack.
#[utoipa::path(get, path = "/v1/functions/{module}/logs", tag = "functions", security(("bearer" = [])), params(LimitParams),
    responses((status = 200, body = FunctionLogPage)))]
pub async fn list_logs(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(module): ApiPath<String>,
    ApiQuery(p): ApiQuery<LimitParams>,
) -> ApiResult<Json<FunctionLogPage>> {
    let n = limit(&p, 50)?;
    Ok(Json(FunctionLogPage {
        items: typed_all(s.functions.logs(&c, &module, n).await?)?,
    }))
}

/// After-hooks that have not run yet: retrying, or `dead` after repeated failures
/// (admins).
#[utoipa::path(get, path = "/v1/functions/outbox", tag = "functions", security(("bearer" = [])), params(LimitParams),
    responses((status = 200, body = OutboxPage)))]
pub async fn list_outbox(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiQuery(p): ApiQuery<LimitParams>,
) -> ApiResult<Json<OutboxPage>> {
    let n = limit(&p, 100)?;
    Ok(Json(OutboxPage {
        items: typed_all(s.functions.outbox(&c, n).await?)?,
    }))
}

/// Runs a waiting or dead after-hook again, from its first attempt (admins).
#[utoipa::path(post, path = "/v1/functions/outbox/{id}/retry", tag = "functions", security(("bearer" = [])),
    responses((status = 204, description = "run again (it stays listed if it fails again)")))]
pub async fn retry_outbox(
    State(s): State<AppState>,
    AnyCaller(c): AnyCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.functions.retry_outbox(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
