//! yunqiao's HTTP face: one router per API area, composed by [`app`]. The local server
//! and the Lambda functions run exactly these routers.

pub mod admin;
pub mod auth;
pub mod caller;
pub mod error;
pub mod events;
pub mod kv;
pub mod live;
pub mod tables;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
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
use yunqiao_core::Code;
use yunqiao_core::auth::Auth;

use crate::error::ErrorBody;

pub use error::{ApiError, ApiResult};

/// Everything a handler can reach; built once per process (or Lambda sandbox).
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Auth>,
    pub tables: Arc<yunqiao_core::tables::Tables>,
    pub kv: Arc<yunqiao_core::kv::Kv>,
    pub live: Arc<yunqiao_core::live::Live>,
    /// The local server's open sockets (its push port); `None` where API Gateway holds
    /// the sockets.
    pub hub: Option<Arc<live::LocalHub>>,
}

/// Where live-channel sockets are held.
pub enum Sockets {
    /// In this process (`GET /v1/ws`).
    Local(Arc<live::LocalHub>),
    /// By API Gateway, reached through this push port.
    Remote(Arc<dyn yunqiao_core::live::Push>),
}

/// Fan-outs push to at most this many connections at once.
pub const PUSH_CONCURRENCY: usize = 32;

impl AppState {
    /// The domain services over one store, built once per process or Lambda sandbox.
    pub fn new(
        store: Arc<dyn yunqiao_core::store::ItemStore>,
        wechat: Arc<dyn yunqiao_core::wechat::WeChat>,
        clock: yunqiao_core::clock::SharedClock,
        auth: yunqiao_core::auth::AuthConfig,
        scan_limit: usize,
        sockets: Sockets,
    ) -> AppState {
        use yunqiao_core::live::{Live, Push, RateLimiter};
        // A process holding its sockets counts frame rates in memory; Lambda sandboxes
        // share nothing, so there the store counts.
        let (push, hub, limiter): (Arc<dyn Push>, _, _) = match sockets {
            Sockets::Local(h) => (h.clone(), Some(h), RateLimiter::in_memory()),
            Sockets::Remote(p) => (p, None, RateLimiter::InStore),
        };
        let tables = Arc::new(
            yunqiao_core::tables::Tables::new(store.clone(), clock.clone())
                .with_scan_limit(scan_limit),
        );
        let auth = Arc::new(Auth::new(store.clone(), wechat, clock.clone(), auth));
        AppState {
            kv: Arc::new(yunqiao_core::kv::Kv::new(store.clone(), clock.clone())),
            live: Live::new(
                store,
                clock,
                push,
                auth.clone(),
                tables.clone(),
                limiter,
                PUSH_CONCURRENCY,
            ),
            tables,
            auth,
            hub,
        }
    }
}

/// The API areas; each Lambda function serves some of them, the local server all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `/v1/health`, `/v1/openapi.json`.
    Meta,
    Auth,
    Admin,
    /// Tables, records, queries, batches.
    Tables,
    Kv,
    /// `POST /v1/events/{topic}`: server-side publishing.
    Events,
    /// `GET /v1/ws` (local sockets only).
    Live,
}

impl Area {
    pub const ALL: &[Area] = &[
        Area::Meta,
        Area::Auth,
        Area::Admin,
        Area::Tables,
        Area::Kv,
        Area::Events,
        Area::Live,
    ];

    fn router(self) -> Router<AppState> {
        match self {
            Area::Meta => Router::new()
                .route("/v1/health", get(health))
                .route("/v1/openapi.json", get(openapi_json)),
            Area::Auth => auth::router(),
            Area::Admin => admin::router().merge(events::rules_router()),
            Area::Tables => tables::router(),
            Area::Kv => kv::router(),
            Area::Events => events::publish_router(),
            Area::Live => live::router(),
        }
    }
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
        events::publish, events::list_rules, events::put_rule, events::delete_rule,
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

/// Health: 200 when the store answers a read, else 503 `STORE_UNAVAILABLE`.
#[utoipa::path(get, path = "/v1/health", tag = "meta", responses((status = 200, body = views::Health), (status = 503, body = ErrorBody)))]
pub async fn health(State(s): State<AppState>) -> ApiResult<Json<views::Health>> {
    s.auth.store().get("health", "_").await.map_err(|e| {
        tracing::warn!(error = %e, "health: the store does not answer");
        error::error(Code::StoreUnavailable, "the store does not answer")
    })?;
    Ok(Json(views::Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
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

/// Every API: the local server.
pub fn app(state: AppState, cfg: &HttpConfig) -> Router {
    app_for(state, cfg, Area::ALL)
}

/// Some APIs, with the layers every request goes through: request ids (taken from
/// `x-request-id` or made, echoed back, logged), tracing, body limit, panic guard.
/// Paths outside `areas` get the same JSON 404 as unknown paths.
pub fn app_for(state: AppState, cfg: &HttpConfig, areas: &[Area]) -> Router {
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
    let mut router = Router::new();
    for a in areas {
        router = router.merge(a.router());
    }
    router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(cfg.body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), RandomRequestId))
}
