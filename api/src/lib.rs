//! yunqiao's HTTP face: one router per API area, composed by [`app`]. The local server
//! and the Lambda functions run exactly these routers.

pub mod admin;
pub mod auth;
pub mod blobs;
pub mod caller;
pub mod console;
pub mod dump;
pub mod error;
pub mod events;
pub mod files;
pub mod functions;
pub mod kv;
pub mod live;
pub mod pay;
pub mod project;
pub mod qrcode;
pub mod tables;
pub mod views;
pub mod wechat;
pub mod wiring;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, Response};
use axum::{Json, Router};
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;
use yunqiao_core::Code;
use yunqiao_core::auth::Auth;

use crate::error::ErrorBody;

pub use error::{ApiError, ApiResult};
pub use wiring::{AppBuilder, MissingAdapter, StoreWriters};

/// Everything a handler can reach; built once per process (or Lambda sandbox) by
/// [`AppState::builder`]. One `Arc`, so that handing it to a request is one reference
/// count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The domain services of a process.
pub struct Services {
    pub auth: Arc<Auth>,
    pub tables: Arc<yunqiao_core::tables::Tables>,
    pub kv: Arc<yunqiao_core::kv::Kv>,
    pub live: Arc<yunqiao_core::live::Live>,
    pub functions: Arc<yunqiao_core::functions::Functions>,
    /// The local server's open sockets (its push port); `None` where API Gateway holds
    /// the sockets.
    pub hub: Option<Arc<live::LocalHub>>,
    /// Where files live (the disk store, S3); `None` in a process built without one.
    pub blobs: Option<Arc<dyn yunqiao_core::blob::BlobStore>>,
    /// The same store when this server answers its presigned forms and URLs itself
    /// (`/v1/blobs`: the disk store); `None` where S3 does.
    pub served_blobs: Option<Arc<dyn yunqiao_core::blob::ServedBlobStore>>,
    /// Users' files (`/v1/files`), over `blobs`; `None` without a blob store.
    pub files: Option<Arc<yunqiao_core::files::Files>>,
    /// QR codes (`/v1/qrcode`), kept as files; `None` without a blob store.
    pub qrcodes: Option<Arc<yunqiao_core::wechat::qrcode::QrCodes>>,
    /// WeChat's pushed events (`/v1/wechat/push`).
    pub wechat_push: Arc<yunqiao_core::wechat::push::WxPush>,
    /// Where clients reach this server (`files.public_url`), when configured; else each
    /// request's own origin is.
    pub public_url: Option<String>,
    /// WeChat Pay (`/v1/pay/*`); answers `PAY_UNAVAILABLE` unless configured.
    pub pay: Arc<yunqiao_core::pay::Pay>,
    /// What this process runs on (`GET /v1/admin/about`).
    pub about: About,
}

/// What a process runs on, for admins (`GET /v1/admin/about`, the console's health
/// page): never a secret, key or credential.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct About {
    /// `server` (`yunqiao serve`) or `lambda` (the AWS functions).
    pub face: String,
    /// `embedded` or `dynamodb` (empty when the process did not say).
    pub store: String,
    /// `mock` (the built-in WeChat mock) or the WeChat API base called.
    pub wechat: String,
    /// Whether WeChat Pay is configured.
    pub pay: bool,
    /// Whether files (a blob store) are available.
    pub files: bool,
    /// This build's version.
    #[serde(default)]
    pub version: String,
    /// Where clients open live-channel sockets when this origin holds none (the AWS
    /// face: the stack's `WebSocketUrl`, `live.ws_url`); absent where `/v1/ws` is here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_url: Option<String>,
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
    /// `POST /v1/blobs`, `GET /v1/blobs/{key}`: uploads and downloads with presigned
    /// forms and URLs (the disk store only; S3 takes them in AWS).
    Blobs,
    /// `/v1/files*`: users' files (signed uploads straight to the blob store, checked on
    /// completion; URLs for readers).
    Files,
    /// `/v1/fn/*` (calls), `/v1/functions/*` (deploy, logs) and `/v1/apply` (a whole
    /// project, whose modules are compiled to be checked).
    Functions,
    /// `/v1/pay/orders*`: WeChat Pay orders (the `yq-pay` function).
    Pay,
    /// `POST /v1/pay/notify`: WeChat Pay's notifications (the `yq-pay-notify` function).
    PayNotify,
    /// `/v1/wechat/push`: WeChat's message push; `/v1/qrcode`: QR codes.
    WeChat,
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
        Area::Blobs,
        Area::Files,
        Area::Functions,
        Area::Pay,
        Area::PayNotify,
        Area::WeChat,
    ];

    fn router(self) -> ApiRouter {
        match self {
            Area::Meta => ApiRouter::new()
                .routes(routes!(health))
                .routes(routes!(openapi_json)),
            Area::Auth => auth::router(),
            Area::Admin => admin::router()
                .merge(events::rules_router())
                .merge(dump::routes::router()),
            Area::Tables => tables::router(),
            Area::Kv => kv::router(),
            Area::Events => events::publish_router(),
            Area::Live => live::router(),
            Area::Blobs => blobs::router(),
            Area::Files => files::router(),
            Area::Functions => functions::router().merge(project::router()),
            Area::Pay => pay::router(),
            Area::PayNotify => pay::notify_router(),
            Area::WeChat => wechat::router().merge(qrcode::router()),
        }
    }
}

/// An area's routes, each with its entry in the OpenAPI document. A route comes in only
/// through [`ApiRouter::routes`], i.e. `routes!(handler, …)`, which takes the path and
/// methods from the handler's `#[utoipa::path]`: a handler without one does not compile
/// there, so no route is served undocumented.
pub struct ApiRouter {
    inner: OpenApiRouter<AppState>,
    /// Paths served outside the document, each said why ([`ApiRouter::undocumented`]).
    undocumented: Vec<&'static str>,
}

impl Default for ApiRouter {
    fn default() -> Self {
        ApiRouter::new()
    }
}

impl ApiRouter {
    pub fn new() -> ApiRouter {
        ApiRouter {
            // Empty: the document's info and security come from [`openapi`].
            inner: OpenApiRouter::default(),
            undocumented: Vec::new(),
        }
    }

    /// The handlers of one path (`routes!(get_x, put_x)`), served and documented.
    ///
    /// # Panics
    ///
    /// When the handlers name different paths: utoipa-axum would serve every one of them
    /// on every path. Routers are built at startup and by the unit tests, so this fails a
    /// test, never a request.
    pub fn routes(self, r: UtoipaMethodRouter<AppState>) -> ApiRouter {
        let paths: Vec<&String> = r.1.paths.keys().collect();
        assert_eq!(paths.len(), 1, "one path per routes!(…), not {paths:?}");
        ApiRouter {
            inner: self.inner.routes(r),
            undocumented: self.undocumented,
        }
    }

    /// Like [`ApiRouter::routes`], served at `path`, which may differ from the documented
    /// path only in a wildcard (`/v1/blobs/{*key}`, documented as `/v1/blobs/{key}`).
    ///
    /// # Panics
    ///
    /// When the documented path is another (see [`ApiRouter::routes`]).
    pub fn routes_at(
        self,
        path: &'static str,
        (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    ) -> ApiRouter {
        let documented: Vec<&String> = paths.paths.keys().collect();
        assert_eq!(
            documented.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            [path.replace("{*", "{").as_str()],
            "routes_at({path}) documents another path"
        );
        let mut doc = utoipa::openapi::OpenApiBuilder::new().paths(paths).build();
        doc.components
            .get_or_insert_with(utoipa::openapi::Components::new)
            .schemas
            .extend(schemas);
        ApiRouter {
            inner: self
                .inner
                .route(path, method_router)
                .merge(OpenApiRouter::with_openapi(doc)),
            undocumented: self.undocumented,
        }
    }

    pub fn merge(mut self, other: ApiRouter) -> ApiRouter {
        self.undocumented.extend(other.undocumented);
        ApiRouter {
            inner: self.inner.merge(other.inner),
            undocumented: self.undocumented,
        }
    }

    /// A route that OpenAPI cannot describe (the WebSocket upgrade, described in
    /// docs/live-protocol.md); the contract test lists the only ones allowed.
    pub(crate) fn undocumented(
        self,
        path: &'static str,
        method_router: axum::routing::MethodRouter<AppState>,
    ) -> ApiRouter {
        let mut undocumented = self.undocumented;
        undocumented.push(path);
        ApiRouter {
            inner: self.inner.route(path, method_router),
            undocumented,
        }
    }

    /// The routes of `areas`, with the paths served outside the document.
    fn of(areas: &[Area]) -> ApiRouter {
        areas
            .iter()
            .fold(ApiRouter::new(), |r, a| r.merge(a.router()))
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
#[openapi(info(
    title = "yunqiao",
    description = "Backend-as-a-service for WeChat mini-programs."
))]
struct ApiInfo;

/// The OpenAPI document: the paths and schemas of every area's routes (the same
/// routers the servers run, so it cannot miss one), completed by [`Contract`] and the
/// bearer scheme.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = ApiRouter::of(Area::ALL).inner.split_for_parts();
    let mut doc = ApiInfo::openapi();
    doc.merge(paths);
    utoipa::Modify::modify(&BearerAuth, &mut doc);
    utoipa::Modify::modify(&Contract, &mut doc);
    doc
}

/// Completes every operation of the document: the `{parameters}` of its path, and the
/// error answers any route can give, each with the one error body — so generated clients
/// and fuzzers see the whole contract.
struct Contract;

/// Statuses every route may answer with the error body: malformed input, no or a bad
/// token, a rule that says no, nothing there, a method the route lacks, a conflict, a
/// body too large or not JSON, a rate limit, the store or WeChat unreachable.
const ERROR_STATUSES: &[(&str, &str)] = &[
    (
        "400",
        "the request is malformed or invalid (a stable code says which part)",
    ),
    ("401", "no session, or an invalid or expired token"),
    ("403", "the rules do not allow this caller"),
    ("404", "no such thing (or not readable by this caller)"),
    ("405", "the route does not take this method"),
    (
        "409",
        "a conflict: a stale version, a unique value taken, a concurrent change",
    ),
    ("413", "the body (or a record) is too large"),
    ("415", "the body is not JSON"),
    ("429", "too many requests"),
    ("502", "WeChat answered with an error"),
    ("503", "the store or WeChat cannot be reached"),
];

impl utoipa::Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names: Vec<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ];
            for op in ops.into_iter().flatten() {
                let params = op.parameters.get_or_insert_with(Vec::new);
                for n in &names {
                    if !params
                        .iter()
                        .any(|p| p.name == *n && p.parameter_in == ParameterIn::Path)
                    {
                        params.push(
                            ParameterBuilder::new()
                                .name(*n)
                                .parameter_in(ParameterIn::Path)
                                .required(Required::True)
                                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                                .build(),
                        );
                    }
                }
                for (status, why) in ERROR_STATUSES {
                    op.responses
                        .responses
                        .entry((*status).to_string())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(*why)
                                    .content(
                                        "application/json",
                                        ContentBuilder::new()
                                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                                            .build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

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
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    // Built once: it is the same for every request.
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(openapi))
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's `x-request-id` may be used as the request's id (echoed, logged,
/// `context.request_id`): 1 to [`MAX_REQUEST_ID_LEN`] of `A-Z a-z 0-9 . _ -`. Anything
/// else is replaced by a fresh id.
pub fn valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Drops a client's `x-request-id` that is not [`valid_request_id`] (too long, odd
/// characters, sent twice), so that [`SetRequestIdLayer`] makes one instead.
fn drop_unsafe_request_id(mut req: Request<axum::body::Body>) -> Request<axum::body::Body> {
    let mut ids = req.headers().get_all(&REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (None, _) => true,
        (Some(v), None) => valid_request_id(v.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

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

static METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");

/// `POST` + `X-HTTP-Method-Override: PATCH` is a `PATCH` (only that: other methods wx
/// sends as they are).
fn method_override<B>(mut req: Request<B>) -> Request<B> {
    if req.method() == http::Method::POST
        && req
            .headers()
            .get(&METHOD_OVERRIDE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"PATCH"))
    {
        *req.method_mut() = http::Method::PATCH;
    }
    req
}

/// Every API: the local server.
pub fn app(state: AppState, cfg: &HttpConfig) -> Router {
    app_for(state, cfg, Area::ALL)
}

/// What a server runs: a router of [`app_for`] behind the one step that must come before
/// routing (`X-HTTP-Method-Override`). A wrapper, not a second router: a router per
/// request would clone and box every layer twice.
pub type Served<B = axum::body::Body> =
    tower::util::MapRequest<Router, fn(Request<B>) -> Request<B>>;

/// `router` with `POST` + `X-HTTP-Method-Override: PATCH` routed as `PATCH` (wx.request
/// cannot send PATCH, so the SDK sends that).
pub fn served<B>(router: Router) -> Served<B> {
    tower::util::MapRequestLayer::new(method_override::<B> as fn(Request<B>) -> Request<B>)
        .layer(router)
}

/// Some APIs, with the layers every request goes through: request ids (taken from
/// `x-request-id` when [`valid_request_id`], else made; echoed back, logged), tracing, body limit, panic guard.
/// Paths outside `areas` get the same JSON 404 as unknown paths. Serve it through
/// [`served`].
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
    let (mut router, _) = ApiRouter::of(areas).inner.split_for_parts();
    // The admin console's pages, where the admin API is (`yq-admin` on AWS).
    if areas.contains(&Area::Admin) {
        router = router.merge(console::router());
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
        .layer(tower::util::MapRequestLayer::new(
            drop_unsafe_request_id as fn(Request<axum::body::Body>) -> Request<axum::body::Body>,
        ))
}

#[cfg(test)]
mod contract_tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_with_its_parameters_and_errors() {
        // Routes come in documented (`ApiRouter::routes`); the only exception is the
        // WebSocket upgrade, described in docs/live-protocol.md.
        assert_eq!(ApiRouter::of(Area::ALL).undocumented, ["/v1/ws"]);
        let doc = serde_json::to_value(openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 20, "{:?}", paths.keys());
        // The upload URL clients post to, and the download path with its wildcard key
        // documented as one parameter.
        assert!(
            paths["/v1/blobs"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object()
        );
        let download = &paths["/v1/blobs/{key}"]["get"];
        let names: Vec<&str> = download["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["key", "expires", "sig"]);
        assert!(!paths.contains_key("/v1/blobs/{*key}"));
        // The files API, every route.
        for (path, method) in [
            ("/v1/files", "post"),
            ("/v1/files", "get"),
            ("/v1/files/{id}/complete", "post"),
            ("/v1/files/{id}", "get"),
            ("/v1/files/{id}", "delete"),
            ("/v1/files/{id}/content", "get"),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path}");
        }
        // Thumbnails: the size and format parameters, the redirect and its headers, and
        // the images' codes.
        for path in ["/v1/files/{id}", "/v1/files/{id}/content"] {
            let op = &paths[path]["get"];
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(names, ["id", "thumb", "format"], "{path}");
            let text = op["responses"].to_string();
            for code in ["THUMB_SIZE_NOT_ALLOWED", "IMAGE_INVALID", "IMAGE_TOO_LARGE"] {
                assert!(text.contains(code), "{path}: {code}");
            }
        }
        let redirect = &paths["/v1/files/{id}/content"]["get"]["responses"]["302"];
        for h in ["Location", "Cache-Control", "Vary"] {
            assert!(redirect["headers"][h].is_object(), "302 {h}");
        }
        for (path, item) in paths {
            let names: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                for n in &names {
                    assert!(
                        params.iter().any(|p| p["name"] == *n && p["in"] == "path"),
                        "{method} {path}: no path parameter {n}"
                    );
                }
                for p in &params {
                    if p["in"] == "path" {
                        assert!(
                            names.contains(&p["name"].as_str().unwrap_or("")),
                            "{method} {path}: path parameter {} is not in the path",
                            p["name"]
                        );
                    }
                }
                for status in ["400", "401", "404", "415", "503"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path}: status {status} is not documented"
                    );
                }
            }
        }
    }

    /// Any-JSON values are described as any value (`{}`), and a condition as the
    /// `[field, op, value]` it is: a generated client can send numbers, strings and lists
    /// there, which it cannot when they are declared objects.
    #[test]
    fn any_json_values_are_any_value_and_conditions_are_tuples() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let s = &doc["components"]["schemas"];
        // Any value: a schema that constrains nothing (a description at most).
        let is_any = |v: &serde_json::Value| {
            v.as_object()
                .is_some_and(|o| o.keys().all(|k| k == "description"))
        };
        for (schema, at) in [
            ("CallBody", "/properties/args/items"),
            ("CallData", "/properties/data"),
            ("CallAnswer", "/properties/result"),
            ("KvEntryView", "/properties/value"),
            ("KvPutBody", "/properties/value"),
            ("PublishBody", "/properties/data"),
            ("ErrorDetail", "/properties/details"),
            ("RecordView", "/additionalProperties"),
            ("RecordInput", "/additionalProperties"),
            ("Condition", "/prefixItems/2"),
        ] {
            let v = s[schema].pointer(at);
            assert!(
                v.is_some_and(is_any),
                "{schema}{at} is not any value: {v:?}"
            );
        }
        assert!(
            s["KvPutBody"]["required"]
                .as_array()
                .is_some_and(|r| r.contains(&"value".into())),
            "a key's value is required (null is a value)"
        );
        assert_eq!(s["Condition"]["minItems"], 3);
        assert_eq!(s["Condition"]["maxItems"], 3);
        let text = doc.to_string();
        assert!(
            !text.contains(r#"{"type":"object"}"#),
            "a bare object schema is back: say what it holds"
        );
    }
}
