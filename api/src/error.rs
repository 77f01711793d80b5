//! The one place error bodies are written, and the extractors that turn malformed
//! requests into those errors instead of axum's plain-text rejections.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use yunqiao_core::{Code, Error};

/// An error as answered: `{"error": {"code", "message", "details"}}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `INVALID_TOKEN`.
    pub code: String,
    pub message: String,
    /// Any JSON value (`null` when there is nothing to add).
    pub details: Value,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<yunqiao_core::store::StoreError> for ApiError {
    fn from(e: yunqiao_core::store::StoreError) -> Self {
        ApiError(e.into())
    }
}

impl From<yunqiao_core::blob::BlobError> for ApiError {
    fn from(e: yunqiao_core::blob::BlobError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = e.code_str(), message = %e.message, "request failed");
        }
        (status, axum::Json(e.body())).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn error(code: Code, message: impl Into<String>) -> ApiError {
    ApiError(Error::new(code, message))
}

/// JSON body extractor with our error bodies. The body is read as JSON when it says it
/// is JSON, and also when it says nothing or what `curl -d` and form posts say
/// (`application/x-www-form-urlencoded`, `text/plain`): other types are 415.
pub struct ApiJson<T>(pub T);

fn json_body_allowed(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.is_empty()
        || mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
        || mime == "application/x-www-form-urlencoded"
        || mime == "text/plain"
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?"));
        if !json_body_allowed(ct) {
            return Err(error(
                Code::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rej| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    error(Code::BodyTooLarge, "the request body is too large")
                } else {
                    error(Code::InvalidBody, rej.body_text())
                }
            })?;
        serde_json::from_slice::<T>(&bytes)
            .map(ApiJson)
            .map_err(json_error)
    }
}

fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof => error(Code::MalformedJson, text),
        Category::Data if text.contains("unknown field") => error(Code::UnknownField, text),
        _ => error(Code::InvalidBody, text),
    }
}

/// A body that must be a JSON object: serde alone would also read a struct from an array
/// of its fields in order. Use as `ApiJson<Object<T>>`.
pub struct Object<T>(pub T);

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = serde_json::Map::<String, Value>::deserialize(d)?;
        T::deserialize(Value::Object(m))
            .map(Object)
            .map_err(serde::de::Error::custom)
    }
}

/// Query-string extractor with our error bodies.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(error(Code::InvalidArgument, rej.body_text()))
            }
            Err(rej) => Err(error(Code::InvalidArgument, rej.body_text())),
        }
    }
}

/// Path-parameter extractor with our error bodies (e.g. a percent-encoded segment that
/// is not UTF-8).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rej @ PathRejection::FailedToDeserializePathParams(_)) => {
                Err(error(Code::InvalidArgument, rej.body_text()))
            }
            Err(rej) => Err(ApiError(Error::internal(rej.body_text()))),
        }
    }
}

pub async fn not_found() -> ApiError {
    error(Code::NotFound, "no such route")
}

pub async fn method_not_allowed() -> ApiError {
    error(Code::MethodNotAllowed, "method not allowed on this route")
}
