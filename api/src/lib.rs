//! yunqiao's HTTP face: one router per API area, composed by [`app`]. The local server
//! and the Lambda functions run exactly these routers.

pub mod admin;
pub mod auth;
pub mod caller;
pub mod error;
pub mod kv;
pub mod tables;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use yunqiao_core::auth::Auth;

pub use error::{ApiError, ApiResult};

/// Everything a handler can reach; built once per process (or Lambda sandbox).
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Auth>,
    pub tables: Arc<yunqiao_core::tables::Tables>,
    pub kv: Arc<yunqiao_core::kv::Kv>,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit: 1024 * 1024,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "yunqiao", description = "Backend-as-a-service for WeChat mini-programs."),
    paths(
        health, openapi_json,
        auth::login, auth::me, auth::update_me, auth::logout, auth::refresh, auth::phone,
        admin::list_users, admin::get_user, admin::set_groups,
        tables::list_tables, tables::get_table, tables::put_table,
        tables::create_record, tables::get_record, tables::update_record, tables::delete_record,
        tables::query_records, tables::batch, tables::backfill,
        kv::list_namespaces, kv::put_namespace, kv::list_keys,
        kv::get_key, kv::head_key, kv::put_key, kv::delete_key,
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Liveness.
#[utoipa::path(get, path = "/v1/health", tag = "meta", responses((status = 200, body = views::Health)))]
pub async fn health() -> Json<views::Health> {
    Json(views::Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("{:032x}", rand::random::<u128>());
        http::HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<axum::body::Body> {
    let e = ApiError(yunqiao_core::Error::internal("internal error"));
    axum::response::IntoResponse::into_response(e)
}

/// Every API, with the layers every request goes through: request ids (taken from
/// `x-request-id` or made, echoed back, logged), tracing, body limit, panic guard.
pub fn app(state: AppState, cfg: &HttpConfig) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<axum::body::Body>| {
            let id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        })
        .on_response(|res: &Response<axum::body::Body>, latency: Duration, _: &tracing::Span| {
            tracing::info!(status = res.status().as_u16(), latency_us = latency.as_micros() as u64, "response");
        });
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi_json))
        .merge(auth::router())
        .merge(admin::router())
        .merge(tables::router())
        .merge(kv::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(cfg.body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), RandomRequestId))
}
