//! QR codes that open a page of the mini-program with a scene (`getwxacodeunlimit`),
//! kept as public files by their parameters.
//!
//! * The parameters are checked here first, as WeChat checks them: `scene` 1 to 32 of
//!   `0-9 A-Z a-z !#$&'()*+,/:;=?@-._~` (`QRCODE_SCENE_INVALID`), `page` a page path
//!   without a leading `/` or a query (`QRCODE_PAGE_INVALID`), `width` 280 to 1280,
//!   `env_version` `release`, `trial` or `develop` (`INVALID_ARGUMENT`).
//! * The same parameters (defaults filled in) are the same QR code: the image is asked
//!   of WeChat once, kept as a public file of the admin's, and that file is answered
//!   from then on (`wxqr#<sha256 of the parameters>` / `_` `{file}`). A kept file that
//!   was deleted is made again.
//! * Concurrent first requests for one QR code make one WeChat call: in a process they
//!   queue on one lock; across processes whoever claims a short lease in the store
//!   (`wxqr#<hash>` / `lease`) asks WeChat, the others read the store again until the
//!   file is there (or the lease lapses, when they ask themselves).
//! * WeChat's refusals map to stable codes ([`qrcode_error`]): 40169 and 40129 →
//!   `QRCODE_SCENE_INVALID`, 41030 and 40159 → `QRCODE_PAGE_INVALID`, 40097 →
//!   `INVALID_ARGUMENT` (`env_version`), 45009 → `RATE_LIMITED`.
//! * Who may ask: admins and cloud functions; users only where `wechat.qrcode_users`
//!   allows (anonymous callers never).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::WxApi;
use super::port::{WxError, WxReply};
use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::error::{Code, Error, Result};
use crate::files::{FileView, Files};
use crate::keys;
use crate::store::{Cond, Item, ItemStore, StoreError};

/// WeChat's path.
pub const PATH: &str = "/wxa/getwxacodeunlimit";
/// The longest scene WeChat takes.
pub const MAX_SCENE_CHARS: usize = 32;
/// The longest page path taken.
pub const MAX_PAGE_BYTES: usize = 128;
/// `width` bounds and default (pixels).
pub const WIDTH: (u32, u32, u32) = (280, 1280, 430);
/// The image types WeChat answers.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg"];
/// How long a lease holds others off (seconds): longer than a WeChat call takes.
const LEASE_SECS: i64 = 15;
/// How often a process waiting for another's QR code reads the store again.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// Polls before a waiting process stops trusting the lease and asks WeChat itself.
const MAX_POLLS: u32 = 400;

/// The characters of a scene, besides ASCII letters and digits.
const SCENE_PUNCT: &str = "!#$&'()*+,/:;=?@-._~";

/// A line colour (`auto_color: false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineColor {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

/// What is asked: WeChat's parameters of `getwxacodeunlimit`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrRequest {
    pub scene: String,
    #[serde(default)]
    pub page: Option<String>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub env_version: Option<String>,
    #[serde(default)]
    pub check_path: Option<bool>,
    #[serde(default)]
    pub auto_color: Option<bool>,
    #[serde(default)]
    pub line_color: Option<LineColor>,
    #[serde(default)]
    pub is_hyaline: Option<bool>,
}

/// The parameters with the defaults filled in: what WeChat is sent, and (hashed) the
/// QR code's key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QrParams {
    pub scene: String,
    /// Empty: the mini-program's home page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub page: String,
    pub width: u32,
    pub env_version: String,
    pub check_path: bool,
    pub auto_color: bool,
    pub line_color: LineColor,
    pub is_hyaline: bool,
}

fn scene_ok(scene: &str) -> bool {
    (1..=MAX_SCENE_CHARS).contains(&scene.chars().count())
        && scene
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SCENE_PUNCT.contains(c))
}

fn page_ok(page: &str) -> bool {
    page.len() <= MAX_PAGE_BYTES
        && !page.starts_with('/')
        && !page.ends_with('/')
        && !page.contains("//")
        && page.split('/').all(|seg| seg != "." && seg != "..")
        && page
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
}

impl QrRequest {
    /// Checked, with the defaults filled in.
    pub fn params(&self) -> Result<QrParams> {
        if !scene_ok(&self.scene) {
            return Err(Error::new(
                Code::QrcodeSceneInvalid,
                format!("scene is 1 to {MAX_SCENE_CHARS} characters of 0-9 A-Z a-z {SCENE_PUNCT}"),
            )
            .with_details(json!({"field": "scene"})));
        }
        let page = self.page.clone().unwrap_or_default();
        if !page_ok(&page) {
            return Err(Error::new(
                Code::QrcodePageInvalid,
                format!(
                    "page is a page path such as pages/room/room: no leading /, no query, \
                     at most {MAX_PAGE_BYTES} bytes of A-Z a-z 0-9 _ - . /"
                ),
            )
            .with_details(json!({"field": "page"})));
        }
        let (lo, hi, default) = WIDTH;
        let width = self.width.unwrap_or(default);
        if !(lo..=hi).contains(&width) {
            return Err(Error::invalid_field(
                "width",
                format!("width is {lo} to {hi} pixels"),
            ));
        }
        let env_version = self.env_version.clone().unwrap_or_else(|| "release".into());
        if !["release", "trial", "develop"].contains(&env_version.as_str()) {
            return Err(Error::invalid_field(
                "env_version",
                "env_version is release, trial or develop",
            ));
        }
        Ok(QrParams {
            scene: self.scene.clone(),
            page,
            width,
            env_version,
            check_path: self.check_path.unwrap_or(true),
            auto_color: self.auto_color.unwrap_or(false),
            line_color: self.line_color.unwrap_or(LineColor { r: 0, g: 0, b: 0 }),
            is_hyaline: self.is_hyaline.unwrap_or(false),
        })
    }
}

impl QrParams {
    /// The QR code's key: a hash of every parameter.
    pub fn key(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }

    /// The body WeChat is sent.
    pub fn body(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({}))
    }
}

/// WeChat's refusals of a QR code, as stable codes.
pub fn qrcode_error(e: WxError) -> Error {
    let WxError::Api { errcode, errmsg } = &e else {
        return e.into();
    };
    let details = json!({ "wechat_errcode": errcode, "wechat_errmsg": errmsg });
    let (code, message, field) = match errcode {
        40169 | 40129 => (
            Code::QrcodeSceneInvalid,
            "WeChat refused the scene",
            Some("scene"),
        ),
        41030 | 40159 => (
            Code::QrcodePageInvalid,
            "WeChat refused the page: it is no page of the released mini-program \
             (for pages not released yet, set check_path to false)",
            Some("page"),
        ),
        40097 => (
            Code::InvalidArgument,
            "WeChat refused the env_version",
            Some("env_version"),
        ),
        45009 => (
            Code::RateLimited,
            "WeChat's QR code quota is used up for now; retry later",
            None,
        ),
        _ => return e.into(),
    };
    let mut details = details;
    if let Some(f) = field {
        details["field"] = json!(f);
    }
    Error::new(code, message).with_details(details)
}

/// A QR code: its public file, and whether it was made before.
#[derive(Debug, Clone)]
pub struct QrCode {
    pub file: FileView,
    /// `true`: kept from an earlier request (no WeChat call).
    pub reused: bool,
}

pub struct QrCodes {
    wechat: Arc<WxApi>,
    files: Arc<Files>,
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
    /// Users may ask (`wechat.qrcode_users`).
    users_allowed: bool,
    /// Where clients reach this server (`files.public_url`), when configured.
    public_url: Option<String>,
    /// The QR codes being made in this process, by key.
    making: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl QrCodes {
    pub fn new(
        wechat: Arc<WxApi>,
        files: Arc<Files>,
        store: Arc<dyn ItemStore>,
        clock: SharedClock,
        users_allowed: bool,
        public_url: Option<String>,
    ) -> QrCodes {
        QrCodes {
            wechat,
            files,
            store,
            clock,
            users_allowed,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            making: Mutex::new(HashMap::new()),
        }
    }

    /// A QR code as answered: `{id, path, url, content_type, size, reused}`. `path` is
    /// the file's stable address (`/v1/files/<id>/content`, a redirect to its bytes);
    /// `url` is it under `origin` (a request's), else under `files.public_url`, else
    /// `path` alone.
    pub fn view(&self, q: &QrCode, origin: Option<&str>) -> Value {
        let f = &q.file.file;
        let path = crate::files::content_path(&f.id);
        let base = origin
            .filter(|o| !o.is_empty())
            .or(self.public_url.as_deref())
            .unwrap_or_default();
        json!({
            "id": f.id, "url": format!("{base}{path}"), "path": path,
            "content_type": f.content_type, "size": f.size, "reused": q.reused,
        })
    }

    /// `POST /v1/qrcode`: admins; users where allowed; anonymous callers never.
    pub async fn for_caller(&self, caller: &Caller, req: &QrRequest) -> Result<QrCode> {
        match caller {
            Caller::AdminKey => {}
            Caller::User { .. } if caller.is_admin() || self.users_allowed => {}
            Caller::User { .. } => {
                return Err(Error::forbidden(
                    "QR codes are made for admins and cloud functions here \
                     (wechat.qrcode_users allows users)",
                ));
            }
            Caller::Anonymous => {
                return Err(Error::new(
                    Code::Unauthenticated,
                    "log in to ask for a QR code",
                ));
            }
        }
        self.get_or_make(req).await
    }

    /// The QR code of `req`, made once (cloud functions' `wechat.qrcode`).
    pub async fn get_or_make(&self, req: &QrRequest) -> Result<QrCode> {
        let params = req.params()?;
        let key = params.key();
        if let Some(file) = self.kept(&key).await? {
            return Ok(QrCode { file, reused: true });
        }
        let gate = {
            let mut m = self.making.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key.clone()).or_default().clone()
        };
        let out = {
            let _turn = gate.lock().await;
            self.shared(&key, &params).await
        };
        let mut m = self.making.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&gate) <= 2 {
            m.remove(&key);
        }
        out
    }

    /// The kept file of `key`, if it is still there (a deleted one is forgotten).
    async fn kept(&self, key: &str) -> Result<Option<FileView>> {
        let pk = format!("{}{key}", keys::WX_QRCODE);
        let Some(item) = self.store.get(&pk, "_").await? else {
            return Ok(None);
        };
        let Some(id) = item.str("file").map(str::to_string) else {
            return Ok(None);
        };
        match self.files.get_as_admin(&id).await? {
            Some(v) => Ok(Some(v)),
            None => {
                match self
                    .store
                    .delete(&pk, "_", Some(Cond::eq("file", id.as_str())))
                    .await
                {
                    Ok(()) | Err(StoreError::ConditionFailed) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The kept QR code, or a new one made by the one process holding the lease.
    async fn shared(&self, key: &str, params: &QrParams) -> Result<QrCode> {
        let pk = format!("{}{key}", keys::WX_QRCODE);
        let holder = crate::ids::new_id(self.clock.now_ms());
        for _ in 0..MAX_POLLS {
            if let Some(file) = self.kept(key).await? {
                return Ok(QrCode { file, reused: true });
            }
            let lease = Item::new(
                &pk,
                "lease",
                json!({ "holder": holder })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .expiring_at(self.clock.now_secs() + LEASE_SECS);
            match self.store.put(lease, Some(Cond::NotExists)).await {
                Ok(()) => {
                    let out = self.make(&pk, params).await;
                    // Whatever happened, let the next one try at once.
                    let _ = self
                        .store
                        .delete(&pk, "lease", Some(Cond::eq("holder", holder.as_str())))
                        .await;
                    return out;
                }
                Err(StoreError::ConditionFailed) => tokio::time::sleep(POLL).await,
                Err(e) => return Err(e.into()),
            }
        }
        // The lease kept being held and no QR code was kept: make it.
        self.make(&pk, params).await
    }

    /// Asks WeChat, keeps the image as a public file and remembers it by `pk`.
    async fn make(&self, pk: &str, params: &QrParams) -> Result<QrCode> {
        let bytes = match self
            .wechat
            .call(PATH, &params.body())
            .await
            .map_err(qrcode_error)?
        {
            WxReply::Bytes { body, .. } => body,
            WxReply::Json(_) => {
                return Err(Error::new(
                    Code::WechatError,
                    "WeChat answered JSON without an error where an image was expected",
                ));
            }
        };
        let ext = match crate::files::sniff(&bytes) {
            Some("image/jpeg") => "jpg",
            _ => "png",
        };
        let name = format!("qrcode-{}.{ext}", &pk[keys::WX_QRCODE.len()..][..12]);
        let file = self.files.put_generated(&name, bytes, IMAGE_TYPES).await?;
        let item = Item::new(
            pk,
            "_",
            json!({ "file": file.file.id, "scene": params.scene, "page": params.page })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        self.store.put(item, None).await?;
        tracing::info!(file = %file.file.id, "made a QR code");
        Ok(QrCode {
            file,
            reused: false,
        })
    }
}

#[cfg(test)]
#[path = "qrcode_tests.rs"]
mod tests;
