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
    FunctionInvalid,
    /// `POST /v1/apply`: items of the project cannot be applied; nothing was changed.
    ProjectRefused,
    /// An export archive that does not follow `docs/export-format.md`; nothing was
    /// imported.
    ArchiveInvalid,
    /// An export archive of a format version this server does not read; nothing was
    /// imported.
    ArchiveVersion,
    /// `POST /v1/files/{id}/complete` before the bytes arrived, or with another size.
    FileNotUploaded,
    /// The bytes are not of the declared type.
    FileTypeMismatch,
    /// A presigned upload smaller than its form allows.
    UploadTooSmall,
    /// A file a record's `file` field or a profile's `avatar_file` may not point at:
    /// missing, not ready, or neither the writer's own nor public (avatars: not the
    /// caller's own public image).
    FileNotUsable,
    /// Text in a checked field that WeChat's content check found risky.
    ContentRisky,
    /// Text in a checked field (`review: refuse`) that WeChat's check wants reviewed.
    ContentNeedsReview,
    /// A QR code's `scene` WeChat would refuse (1 to 32 of its characters), or that it
    /// refused (40169, 40129).
    QrcodeSceneInvalid,
    /// A QR code's `page` that is no page path, or that WeChat refused (41030: not a
    /// page of the released mini-program; 40159).
    QrcodePageInvalid,
    // 401
    Unauthenticated,
    InvalidToken,
    InvalidLoginCode,
    // 403
    Forbidden,
    WechatUserBlocked,
    /// A subscribe message to a user who did not accept the template (WeChat's 43101).
    WechatNotSubscribed,
    FunctionForbidden,
    /// A presigned form or URL whose signature does not match what it carries (a changed
    /// field, key or expiry), or that lacks one.
    SignatureInvalid,
    /// A presigned form or URL past its expiry.
    SignatureExpired,
    /// A presigned upload whose fields disagree with its signed policy (another key or
    /// content type) or carry a field the form was not signed with.
    UploadMismatch,
    /// A WeChat push whose safe-mode body names another mini-program's app id.
    PushWrongApp,
    // 404
    NotFound,
    // 405
    MethodNotAllowed,
    // 410
    /// A file WeChat's media check rejected: its bytes are no longer served.
    FileRejected,
    // 409
    Conflict,
    UniqueViolation,
    QuotaExceeded,
    /// A WeChat push whose timestamp and nonce were seen before.
    PushReplayed,
    // 413
    BodyTooLarge,
    ItemTooLarge,
    FileTooLarge,
    /// A presigned upload larger than its form (or the server) allows.
    UploadTooLarge,
    // 415
    UnsupportedMediaType,
    FileTypeNotAllowed,
    // 429
    RateLimited,
    TooManyConnections,
    FunctionBusy,
    // 502 / 503
    WechatError,
    FetchFailed,
    WechatUnavailable,
    StoreUnavailable,
    // 500 / 504: a cloud function that failed or hit a limit
    FunctionFailed,
    FunctionOutOfMemory,
    FunctionStackOverflow,
    FunctionResultTooLarge,
    HookDepthExceeded,
    FunctionTimeout,
    /// A code a cloud function chose (`FunctionError`); the text and status travel with
    /// the error.
    App,
    // Images and thumbnails (`files::thumbs`).
    /// A thumbnail size the configuration does not list, or not a size at all (400).
    ThumbSizeNotAllowed,
    /// An image that cannot be read: truncated, corrupt, or of no format we read (400).
    ImageInvalid,
    /// An image whose dimensions are over the limits, refused before decoding (413).
    ImageTooLarge,
    // 500
    Internal,
    // WeChat Pay (`pay`).
    PayUnavailable,
    PayAmountNotAllowed,
    PayItemNotPriced,
    PayOrderNotPending,
    /// A refund of an order that is not paid (409).
    PayOrderNotPaid,
    PayNotifySignatureInvalid,
    PayNotifyInvalid,
}

impl Code {
    /// Every code, for lookups by name.
    pub const ALL: &[Code] = &[
        Code::MalformedJson,
        Code::InvalidBody,
        Code::InvalidArgument,
        Code::UnknownField,
        Code::InvalidQuery,
        Code::InvalidCursor,
        Code::IndexRequired,
        Code::CountUnavailable,
        Code::BatchTooLarge,
        Code::TooManyTopics,
        Code::FunctionInvalid,
        Code::ProjectRefused,
        Code::ArchiveInvalid,
        Code::ArchiveVersion,
        Code::FileNotUploaded,
        Code::FileTypeMismatch,
        Code::QuotaExceeded,
        Code::FileTooLarge,
        Code::FileTypeNotAllowed,
        Code::UploadTooSmall,
        Code::FileNotUsable,
        Code::ContentRisky,
        Code::ContentNeedsReview,
        Code::QrcodeSceneInvalid,
        Code::QrcodePageInvalid,
        Code::Unauthenticated,
        Code::InvalidToken,
        Code::InvalidLoginCode,
        Code::Forbidden,
        Code::WechatUserBlocked,
        Code::WechatNotSubscribed,
        Code::FunctionForbidden,
        Code::SignatureInvalid,
        Code::SignatureExpired,
        Code::UploadMismatch,
        Code::PushWrongApp,
        Code::PushReplayed,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::FileRejected,
        Code::Conflict,
        Code::UniqueViolation,
        Code::BodyTooLarge,
        Code::ItemTooLarge,
        Code::UploadTooLarge,
        Code::UnsupportedMediaType,
        Code::RateLimited,
        Code::TooManyConnections,
        Code::FunctionBusy,
        Code::WechatError,
        Code::FetchFailed,
        Code::WechatUnavailable,
        Code::StoreUnavailable,
        Code::FunctionFailed,
        Code::FunctionOutOfMemory,
        Code::FunctionStackOverflow,
        Code::FunctionResultTooLarge,
        Code::HookDepthExceeded,
        Code::FunctionTimeout,
        Code::App,
        Code::ThumbSizeNotAllowed,
        Code::ImageInvalid,
        Code::ImageTooLarge,
        Code::Internal,
        Code::PayUnavailable,
        Code::PayAmountNotAllowed,
        Code::PayItemNotPriced,
        Code::PayOrderNotPending,
        Code::PayOrderNotPaid,
        Code::PayNotifySignatureInvalid,
        Code::PayNotifyInvalid,
    ];

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
            Code::WechatNotSubscribed => "WECHAT_NOT_SUBSCRIBED",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Conflict => "CONFLICT",
            Code::BodyTooLarge => "BODY_TOO_LARGE",
            Code::ItemTooLarge => "ITEM_TOO_LARGE",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::RateLimited => "RATE_LIMITED",
            Code::FunctionBusy => "FUNCTION_BUSY",
            Code::TooManyConnections => "TOO_MANY_CONNECTIONS",
            Code::WechatError => "WECHAT_ERROR",
            Code::FetchFailed => "FETCH_FAILED",
            Code::WechatUnavailable => "WECHAT_UNAVAILABLE",
            Code::StoreUnavailable => "STORE_UNAVAILABLE",
            Code::FunctionInvalid => "FUNCTION_INVALID",
            Code::ProjectRefused => "PROJECT_REFUSED",
            Code::ArchiveInvalid => "ARCHIVE_INVALID",
            Code::ArchiveVersion => "ARCHIVE_VERSION",
            Code::FileNotUploaded => "FILE_NOT_UPLOADED",
            Code::FileTypeMismatch => "FILE_TYPE_MISMATCH",
            Code::QuotaExceeded => "QUOTA_EXCEEDED",
            Code::FileTooLarge => "FILE_TOO_LARGE",
            Code::FileTypeNotAllowed => "FILE_TYPE_NOT_ALLOWED",
            Code::FunctionForbidden => "FUNCTION_FORBIDDEN",
            Code::FunctionFailed => "FUNCTION_FAILED",
            Code::FunctionOutOfMemory => "FUNCTION_OUT_OF_MEMORY",
            Code::FunctionStackOverflow => "FUNCTION_STACK_OVERFLOW",
            Code::FunctionResultTooLarge => "FUNCTION_RESULT_TOO_LARGE",
            Code::HookDepthExceeded => "HOOK_DEPTH_EXCEEDED",
            Code::FunctionTimeout => "FUNCTION_TIMEOUT",
            Code::App => "APP_ERROR",
            Code::UploadTooSmall => "UPLOAD_TOO_SMALL",
            Code::FileNotUsable => "FILE_NOT_USABLE",
            Code::ContentRisky => "CONTENT_RISKY",
            Code::ContentNeedsReview => "CONTENT_NEEDS_REVIEW",
            Code::QrcodeSceneInvalid => "QRCODE_SCENE_INVALID",
            Code::QrcodePageInvalid => "QRCODE_PAGE_INVALID",
            Code::SignatureInvalid => "SIGNATURE_INVALID",
            Code::SignatureExpired => "SIGNATURE_EXPIRED",
            Code::UploadMismatch => "UPLOAD_MISMATCH",
            Code::PushWrongApp => "PUSH_WRONG_APP",
            Code::PushReplayed => "PUSH_REPLAYED",
            Code::FileRejected => "FILE_REJECTED",
            Code::UploadTooLarge => "UPLOAD_TOO_LARGE",
            Code::ThumbSizeNotAllowed => "THUMB_SIZE_NOT_ALLOWED",
            Code::ImageInvalid => "IMAGE_INVALID",
            Code::ImageTooLarge => "IMAGE_TOO_LARGE",
            Code::Internal => "INTERNAL",
            Code::PayUnavailable => "PAY_UNAVAILABLE",
            Code::PayAmountNotAllowed => "PAY_AMOUNT_NOT_ALLOWED",
            Code::PayItemNotPriced => "PAY_ITEM_NOT_PRICED",
            Code::PayOrderNotPending => "PAY_ORDER_NOT_PENDING",
            Code::PayOrderNotPaid => "PAY_ORDER_NOT_PAID",
            Code::PayNotifySignatureInvalid => "PAY_NOTIFY_SIGNATURE_INVALID",
            Code::PayNotifyInvalid => "PAY_NOTIFY_INVALID",
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
            | Code::TooManyTopics
            | Code::FunctionInvalid
            | Code::ProjectRefused
            | Code::ArchiveInvalid
            | Code::ArchiveVersion
            | Code::FileTypeMismatch
            | Code::UploadTooSmall
            | Code::FileNotUsable
            | Code::ContentRisky
            | Code::ContentNeedsReview
            | Code::QrcodeSceneInvalid
            | Code::QrcodePageInvalid
            | Code::App => 400,
            Code::Unauthenticated | Code::InvalidToken | Code::InvalidLoginCode => 401,
            Code::Forbidden
            | Code::WechatUserBlocked
            | Code::WechatNotSubscribed
            | Code::FunctionForbidden
            | Code::SignatureInvalid
            | Code::SignatureExpired
            | Code::UploadMismatch
            | Code::PushWrongApp => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::FileRejected => 410,
            Code::Conflict | Code::UniqueViolation | Code::FileNotUploaded | Code::PushReplayed => {
                409
            }
            Code::BodyTooLarge
            | Code::ItemTooLarge
            | Code::UploadTooLarge
            | Code::FileTooLarge
            | Code::QuotaExceeded => 413,
            Code::UnsupportedMediaType | Code::FileTypeNotAllowed => 415,
            Code::RateLimited | Code::TooManyConnections | Code::FunctionBusy => 429,
            Code::WechatError | Code::FetchFailed => 502,
            Code::WechatUnavailable | Code::StoreUnavailable => 503,
            Code::FunctionTimeout => 504,
            Code::ThumbSizeNotAllowed | Code::ImageInvalid => 400,
            Code::ImageTooLarge => 413,
            Code::FunctionFailed
            | Code::FunctionOutOfMemory
            | Code::FunctionStackOverflow
            | Code::FunctionResultTooLarge
            | Code::HookDepthExceeded
            | Code::Internal => 500,
            Code::PayAmountNotAllowed | Code::PayItemNotPriced | Code::PayNotifyInvalid => 400,
            Code::PayNotifySignatureInvalid => 401,
            Code::PayOrderNotPending => 409,
            Code::PayOrderNotPaid => 409,
            Code::PayUnavailable => 503,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", self.code_str())]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub details: Value,
    /// With [`Code::App`]: the function's own code and status.
    pub app: Option<Box<(String, u16)>>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
            app: None,
        }
    }

    /// An error a cloud function raised with its own code (`A_CODE`) and a 4xx status.
    /// A code that is one of ours keeps our status; anything malformed is
    /// `APP_ERROR` 400.
    pub fn app(code: &str, message: &str, status: u16) -> Self {
        if let Some(c) = Code::ALL.iter().find(|c| c.as_str() == code) {
            return Error::new(*c, message);
        }
        let status = if (400..500).contains(&status) {
            status
        } else {
            400
        };
        let mut e = Error::new(Code::App, message);
        if valid_app_code(code) {
            e.app = Some(Box::new((code.to_string(), status)));
        }
        e
    }

    /// The error as every API answers it: `{"error": {"code", "message", "details"}}`.
    pub fn body(&self) -> Value {
        serde_json::json!({"error": {
            "code": self.code_str(), "message": self.message, "details": self.details,
        }})
    }

    /// The code as answered.
    pub fn code_str(&self) -> &str {
        match &self.app {
            Some(a) => &a.0,
            None => self.code.as_str(),
        }
    }

    /// The HTTP status answered.
    pub fn status(&self) -> u16 {
        match &self.app {
            Some(a) => a.1,
            None => self.code.status(),
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

/// `UPPER_SNAKE`, 2 to 64 characters.
pub fn valid_app_code(code: &str) -> bool {
    (2..=64).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
