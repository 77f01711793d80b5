//! Media checks: WeChat's `media_check_async` on what users upload, turned on per
//! content type (`files.media_check`, e.g. `image/*`; off by default).
//!
//! * When a checked upload is completed, its bytes are handed to WeChat (a signed URL
//!   of them, valid [`MEDIA_URL_TTL`]) for the uploader's openid, and the file is
//!   `checking`: its owner (and admins) read it as usual; anyone else is told it does
//!   not exist, public or not, and no record may point at it but its owner's own.
//! * WeChat's verdict arrives later as the pushed event `wxa_media_check` (see
//!   `wechat::push`), matched by its `trace_id`: `pass` makes the file `ready`;
//!   `risky`, `review` or a check that failed (`errcode` ≠ 0) make it `rejected`.
//! * A rejected file's bytes and thumbnails are deleted at once; its record stays (its
//!   owner sees `rejected`, its content answers 410 `FILE_REJECTED`, others 404) and
//!   counts against the quota until its owner deletes it.
//! * Files the admin key uploads have no openid to check for: they are `ready` at once.
//!
//! Store: `fcheck#<sha256 of the trace id>` / `_` → `{file}`, written with the
//! `checking` file and deleted when the verdict settles it (`media_settle`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Code, Error, Result};
use crate::keys;

/// How long the URL WeChat downloads a checked file from works (WeChat checks within
/// 30 minutes).
pub const MEDIA_URL_TTL: Duration = Duration::from_secs(3600);

/// What WeChat checks (`media_type`: 2 image, 1 audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
}

impl MediaKind {
    pub fn media_type(self) -> u8 {
        match self {
            MediaKind::Image => 2,
            MediaKind::Audio => 1,
        }
    }

    /// The kind of a content type WeChat can check, if any.
    pub fn of(content_type: &str) -> Option<MediaKind> {
        if content_type.starts_with("image/") {
            Some(MediaKind::Image)
        } else if content_type.starts_with("audio/") {
            Some(MediaKind::Audio)
        } else {
            None
        }
    }
}

/// Starts WeChat's asynchronous check of media (`wechat::media` implements it over
/// `media_check_async`).
#[async_trait]
pub trait MediaChecker: Send + Sync {
    /// Checks the bytes at `url`, uploaded by the user `owner`; answers WeChat's trace id.
    async fn start(&self, owner: &str, url: &str, kind: MediaKind) -> Result<String>;
}

/// A `wxa_media_check` event's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaVerdict {
    pub trace_id: String,
    /// `pass`, `review` or `risky` (empty when the check failed).
    pub suggest: String,
    pub label: i64,
    /// Non-zero: WeChat could not check the media (e.g. -1008, not downloadable).
    pub errcode: i64,
}

impl MediaVerdict {
    /// The verdict of a pushed event, when it is a `wxa_media_check` with a trace id.
    pub fn from_event(event: &Value) -> Option<MediaVerdict> {
        if event.get("Event").and_then(Value::as_str) != Some("wxa_media_check") {
            return None;
        }
        let num = |v: &Value| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        };
        let trace_id = match event.get("trace_id")? {
            Value::String(s) if !s.is_empty() && s.len() <= 256 => s.clone(),
            _ => return None,
        };
        let result = event.get("result").cloned().unwrap_or(Value::Null);
        Some(MediaVerdict {
            trace_id,
            suggest: result
                .get("suggest")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            label: result.get("label").and_then(num).unwrap_or(0),
            errcode: event.get("errcode").and_then(num).unwrap_or(0),
        })
    }

    pub fn passed(&self) -> bool {
        self.errcode == 0 && self.suggest == "pass"
    }
}

pub(super) fn check_pk(trace_id: &str) -> String {
    format!(
        "{}{}",
        keys::FILE_CHECK,
        hex::encode(Sha256::digest(trace_id.as_bytes()))
    )
}

/// Whether `content_type` matches one of `patterns` (exact, or a family `image/*`).
pub(super) fn matches(patterns: &[String], content_type: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix("/*") {
        Some(family) => content_type
            .split_once('/')
            .is_some_and(|(f, _)| f.eq_ignore_ascii_case(family)),
        None => p.eq_ignore_ascii_case(content_type),
    })
}

pub(super) fn rejected() -> Error {
    Error::new(
        Code::FileRejected,
        "WeChat's content check rejected this file: its bytes are no longer served",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_and_kinds() {
        let p = vec!["image/*".to_string(), "audio/mpeg".to_string()];
        assert!(matches(&p, "image/png"));
        assert!(matches(&p, "audio/mpeg"));
        assert!(!matches(&p, "audio/aac"));
        assert!(!matches(&p, "imagex/png"));
        assert!(!matches(&[], "image/png"));
        assert_eq!(MediaKind::of("image/webp"), Some(MediaKind::Image));
        assert_eq!(
            MediaKind::of("audio/aac").map(MediaKind::media_type),
            Some(1)
        );
        assert_eq!(MediaKind::of("application/pdf"), None);
    }

    #[test]
    fn verdicts_from_events() {
        let e = json!({"Event": "wxa_media_check", "trace_id": "t1", "errcode": 0,
            "result": {"suggest": "risky", "label": 20002}});
        let v = MediaVerdict::from_event(&e).unwrap();
        assert_eq!(
            (v.suggest.as_str(), v.label, v.passed()),
            ("risky", 20002, false)
        );
        // From XML every leaf may be text.
        let e = json!({"Event": "wxa_media_check", "trace_id": "t2", "errcode": "0",
            "result": {"suggest": "pass", "label": "100"}});
        assert!(MediaVerdict::from_event(&e).unwrap().passed());
        let failed = json!({"Event": "wxa_media_check", "trace_id": "t3", "errcode": -1008});
        assert!(!MediaVerdict::from_event(&failed).unwrap().passed());
        assert_eq!(
            MediaVerdict::from_event(&json!({"Event": "other", "trace_id": "t"})),
            None
        );
        assert_eq!(
            MediaVerdict::from_event(&json!({"Event": "wxa_media_check"})),
            None
        );
    }
}
