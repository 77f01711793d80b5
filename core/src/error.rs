//! The one error type of the domain. Every API answers failures as
//! `{"error": {"code", "message", "details"}}`; the code is stable, the HTTP status is
//! derived from it in exactly one place ([`Code::status`]).

use serde_json::Value;

use crate::store::StoreError;

/// Stable error codes. Clients match on these strings; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    // 400
    MalformedJson,
    InvalidBody,
    InvalidArgument,
    UnknownField,
    InvalidQuery,
    InvalidCursor,
    IndexRequired,
    CountUnavailable,
    BatchTooLarge,
    TooManyTopics,
    // 401
    Unauthenticated,
    InvalidToken,
    InvalidLoginCode,
    // 403
    Forbidden,
    WechatUserBlocked,
    // 404
    NotFound,
    // 405
    MethodNotAllowed,
    // 409
    Conflict,
    UniqueViolation,
    // 413
    BodyTooLarge,
    ItemTooLarge,
    // 415
    UnsupportedMediaType,
    // 429
    RateLimited,
    TooManyConnections,
    // 502 / 503
    WechatError,
    WechatUnavailable,
    StoreUnavailable,
    // 500
    Internal,
}

impl Code {
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::MalformedJson => "MALFORMED_JSON",
            Code::InvalidBody => "INVALID_BODY",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::UnknownField => "UNKNOWN_FIELD",
            Code::InvalidQuery => "INVALID_QUERY",
            Code::InvalidCursor => "INVALID_CURSOR",
            Code::IndexRequired => "INDEX_REQUIRED",
            Code::CountUnavailable => "COUNT_UNAVAILABLE",
            Code::BatchTooLarge => "BATCH_TOO_LARGE",
            Code::TooManyTopics => "TOO_MANY_TOPICS",
            Code::UniqueViolation => "UNIQUE_VIOLATION",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::InvalidToken => "INVALID_TOKEN",
            Code::InvalidLoginCode => "INVALID_LOGIN_CODE",
            Code::Forbidden => "FORBIDDEN",
            Code::WechatUserBlocked => "WECHAT_USER_BLOCKED",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Conflict => "CONFLICT",
            Code::BodyTooLarge => "BODY_TOO_LARGE",
            Code::ItemTooLarge => "ITEM_TOO_LARGE",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::RateLimited => "RATE_LIMITED",
            Code::TooManyConnections => "TOO_MANY_CONNECTIONS",
            Code::WechatError => "WECHAT_ERROR",
            Code::WechatUnavailable => "WECHAT_UNAVAILABLE",
            Code::StoreUnavailable => "STORE_UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }

    /// The HTTP status this code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Code::MalformedJson
            | Code::InvalidBody
            | Code::InvalidArgument
            | Code::UnknownField
            | Code::InvalidQuery
            | Code::InvalidCursor
            | Code::IndexRequired
            | Code::CountUnavailable
            | Code::BatchTooLarge
            | Code::TooManyTopics => 400,
            Code::Unauthenticated | Code::InvalidToken | Code::InvalidLoginCode => 401,
            Code::Forbidden | Code::WechatUserBlocked => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::Conflict | Code::UniqueViolation => 409,
            Code::BodyTooLarge | Code::ItemTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::RateLimited | Code::TooManyConnections => 429,
            Code::WechatError => 502,
            Code::WechatUnavailable | Code::StoreUnavailable => 503,
            Code::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub details: Value,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Code::InvalidArgument, message)
    }

    /// A validation failure that names the offending field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Error::new(Code::InvalidArgument, message)
            .with_details(serde_json::json!({ "field": field }))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(Code::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::new(Code::Forbidden, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Code::Internal, message)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed | StoreError::TransactionCanceled { .. } => {
                Error::new(Code::Conflict, "the data changed concurrently; retry")
            }
            StoreError::ItemTooLarge { size, limit } => {
                Error::new(Code::ItemTooLarge, "item too large")
                    .with_details(serde_json::json!({ "size": size, "limit": limit }))
            }
            StoreError::Invalid(m) => Error::new(Code::InvalidArgument, m),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "store unavailable");
                Error::new(Code::StoreUnavailable, "the data store is unavailable")
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
