//! WeChat's pushed events (消息推送): the endpoint the mini-program's admin points its
//! message push at.
//!
//! * `GET` is the echo handshake: `signature` = hex(sha1(sorted(token, timestamp,
//!   nonce) joined)); a good one is answered with `echostr` as it came.
//! * Bodies are JSON or XML, whichever the mini-program's admin chose (both are read,
//!   XML into the same object: `push_xml`).
//! * Every `POST` carries the same `signature`; in safe mode (an EncodingAESKey is
//!   configured) the body is `{"ToUserName", "Encrypt"}`, `msg_signature` signs
//!   token, timestamp, nonce and the ciphertext, and the plaintext (AES-256-CBC, key =
//!   b64decode(EncodingAESKey + "="), iv = its first 16 bytes, PKCS#7 padded to 32) is
//!   random(16) ‖ msg_len (4, big-endian) ‖ msg ‖ appid — whose appid must be ours.
//! * A timestamp more than [`MAX_AGE_SECS`] away from now is stale; a nonce seen with its
//!   timestamp before is a replay (both refused, nothing changes); an event seen before
//!   (same `MsgId`, `trace_id`, or sender, time and event) is answered `success` and not
//!   handed on again.
//! * A `wxa_media_check` event whose `trace_id` is an upload's settles that file
//!   (`files::media`); it is not handed on.
//! * Any other good event goes to the cloud-function export the configuration names
//!   (`wechat.push_function`, export `on_wechat_event` by default) as its one argument.
//!
//! Neither the Token nor the key reaches an answer or a log line: [`PushSecrets`] prints
//! as `<redacted>`.

use std::sync::Arc;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::error::{Code, Error, Result};
use crate::files::{Files, MediaVerdict};
use crate::functions::{Functions, Invocation, Trigger};
use crate::keys;
use crate::store::{Cond, Item, ItemStore, StoreError};

/// Pushes whose timestamp is further than this from now are refused (and a nonce is
/// remembered twice as long, so a replay is refused as stale or as replayed).
pub const MAX_AGE_SECS: i64 = 300;
/// How long an event's id is remembered, so WeChat's retries are answered without
/// running the handler twice.
pub const EVENT_MEMORY_SECS: i64 = 24 * 3600;
/// The export called when `wechat.push_function` names a module only.
pub const DEFAULT_EXPORT: &str = "on_wechat_event";
/// Largest ciphertext accepted (WeChat's events are a few kilobytes).
const MAX_ENCRYPTED: usize = 64 * 1024;

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;

/// The Token and EncodingAESKey of the mini-program's message push.
#[derive(Clone)]
pub struct PushSecrets {
    token: String,
    key: Option<[u8; 32]>,
}

impl std::fmt::Debug for PushSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushSecrets(<redacted>)")
    }
}

impl PushSecrets {
    /// `token`: 3 to 32 letters and digits (WeChat's rule); `aes_key`: the 43-character
    /// EncodingAESKey, or `None` for plaintext mode.
    pub fn new(token: &str, aes_key: Option<&str>) -> std::result::Result<Self, String> {
        check_token(token)?;
        let key = aes_key.map(parse_aes_key).transpose()?;
        Ok(PushSecrets {
            token: token.to_string(),
            key,
        })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn key(&self) -> Option<&[u8; 32]> {
        self.key.as_ref()
    }
}

/// WeChat's rule for the push Token: 3 to 32 ASCII letters and digits.
pub fn check_token(token: &str) -> std::result::Result<(), String> {
    if (3..=32).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("the push token is 3 to 32 letters and digits".into())
    }
}

/// The 32-byte AES key of a 43-character EncodingAESKey (base64 without its `=`).
pub fn parse_aes_key(s: &str) -> std::result::Result<[u8; 32], String> {
    let bad = || "the EncodingAESKey is 43 characters of base64 (letters and digits)".to_string();
    if s.len() != 43 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    // WeChat's keys are 43 random characters: the last one's spare bits are not zero.
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = LENIENT.decode(format!("{s}=")).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// `signature` (and, with the ciphertext, `msg_signature`): hex(sha1) of the parts
/// sorted and joined.
pub fn sign(parts: &[&str]) -> String {
    let mut v: Vec<&str> = parts.to_vec();
    v.sort_unstable();
    hex::encode(Sha1::digest(v.concat().as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Safe mode's ciphertext of `msg` for `appid`, with the given 16 random bytes (the
/// mock's and the tests' side of [`decrypt`]).
pub fn encrypt(key: &[u8; 32], random: &[u8; 16], msg: &[u8], appid: &str) -> String {
    let mut plain = Vec::with_capacity(16 + 4 + msg.len() + appid.len() + 32);
    plain.extend_from_slice(random);
    plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    plain.extend_from_slice(msg);
    plain.extend_from_slice(appid.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let len = plain.len();
    let enc = Aes256CbcEnc::new(key.into(), key[..16].into());
    let out = match enc.encrypt_padded_mut::<NoPadding>(&mut plain, len) {
        Ok(c) => c.to_vec(),
        // Unreachable: the buffer is a whole number of blocks.
        Err(_) => Vec::new(),
    };
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Why a ciphertext was refused (no detail that would help a forger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptError {
    Malformed,
}

/// The message and appid inside safe mode's ciphertext.
pub fn decrypt(key: &[u8; 32], b64: &str) -> std::result::Result<(Vec<u8>, String), DecryptError> {
    if b64.len() > MAX_ENCRYPTED {
        return Err(DecryptError::Malformed);
    }
    let mut buf = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| DecryptError::Malformed)?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(DecryptError::Malformed);
    }
    let dec = Aes256CbcDec::new(key.into(), key[..16].into());
    let plain = dec
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| DecryptError::Malformed)?;
    let pad = *plain.last().ok_or(DecryptError::Malformed)? as usize;
    if !(1..=32).contains(&pad) || pad > plain.len() {
        return Err(DecryptError::Malformed);
    }
    let plain = &plain[..plain.len() - pad];
    if plain.len() < 20 {
        return Err(DecryptError::Malformed);
    }
    let len = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
    let rest = &plain[20..];
    if len > rest.len() {
        return Err(DecryptError::Malformed);
    }
    let appid = std::str::from_utf8(&rest[len..]).map_err(|_| DecryptError::Malformed)?;
    Ok((rest[..len].to_vec(), appid.to_string()))
}

/// The query string of a push (and of the handshake).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub msg_signature: Option<String>,
    pub encrypt_type: Option<String>,
    pub openid: Option<String>,
}

/// What a `POST` came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A new event, handed to the export when one is configured.
    Handled { event: Value, handed_on: bool },
    /// A media check's verdict that settled an upload.
    Settled,
    /// An event seen before: nothing done again.
    Duplicate,
}

/// The push endpoint's configuration.
#[derive(Debug, Clone)]
pub struct PushConfig {
    pub secrets: PushSecrets,
    /// The app id a safe-mode body must name.
    pub appid: String,
    /// `(module, export)` to hand events to.
    pub handler: Option<(String, String)>,
}

/// `module` or `module.export` (default export [`DEFAULT_EXPORT`]).
pub fn parse_handler(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(match s.split_once('.') {
        Some((m, e)) => (m.to_string(), e.to_string()),
        None => (s.to_string(), DEFAULT_EXPORT.to_string()),
    })
}

pub struct WxPush {
    cfg: Option<PushConfig>,
    store: Arc<dyn ItemStore>,
    clock: SharedClock,
    functions: Arc<Functions>,
    /// Uploads waiting for a media check's verdict (with a blob store).
    files: Option<Arc<Files>>,
}

fn refused(code: Code, message: &str) -> Error {
    Error::new(code, message)
}

impl WxPush {
    /// `cfg` is `None` when no push Token is configured: the endpoint answers 404.
    pub fn new(
        cfg: Option<PushConfig>,
        store: Arc<dyn ItemStore>,
        clock: SharedClock,
        functions: Arc<Functions>,
    ) -> Self {
        WxPush {
            cfg,
            store,
            clock,
            functions,
            files: None,
        }
    }

    /// Media checks' verdicts settle these files.
    pub fn with_files(mut self, files: Option<Arc<Files>>) -> Self {
        self.files = files;
        self
    }

    fn cfg(&self) -> Result<&PushConfig> {
        self.cfg
            .as_ref()
            .ok_or_else(|| Error::not_found("message push is not configured (wechat.push_token)"))
    }

    /// Checks `signature` over token, timestamp and nonce, and the timestamp's age.
    fn verify(&self, cfg: &PushConfig, q: &PushQuery) -> Result<(String, String)> {
        let (Some(sig), Some(ts), Some(nonce)) = (&q.signature, &q.timestamp, &q.nonce) else {
            return Err(refused(
                Code::SignatureInvalid,
                "signature, timestamp and nonce are required",
            ));
        };
        if nonce.is_empty() || nonce.len() > 64 || ts.len() > 20 {
            return Err(refused(
                Code::SignatureInvalid,
                "the signature does not match",
            ));
        }
        if !same(
            &sign(&[cfg.secrets.token(), ts, nonce]),
            &sig.to_ascii_lowercase(),
        ) {
            return Err(refused(
                Code::SignatureInvalid,
                "the signature does not match",
            ));
        }
        let t: i64 = ts
            .parse()
            .map_err(|_| refused(Code::SignatureInvalid, "the timestamp is not a number"))?;
        if (self.clock.now_secs() - t).abs() > MAX_AGE_SECS {
            return Err(refused(
                Code::SignatureExpired,
                "the push is too old (or from the future)",
            ));
        }
        Ok((ts.clone(), nonce.clone()))
    }

    /// The `GET` handshake: the `echostr` to answer.
    pub fn handshake(&self, q: &PushQuery) -> Result<String> {
        let cfg = self.cfg()?;
        self.verify(cfg, q)?;
        match &q.echostr {
            Some(e) if !e.is_empty() && e.len() <= 256 => Ok(e.clone()),
            _ => Err(Error::new(Code::InvalidQuery, "echostr is required")),
        }
    }

    /// A `POST`: verified, decrypted, checked, remembered, handed on.
    pub async fn receive(&self, q: &PushQuery, body: &[u8], request_id: &str) -> Result<Received> {
        let cfg = self.cfg()?;
        let (ts, nonce) = self.verify(cfg, q)?;
        if body.len() > 2 * MAX_ENCRYPTED {
            return Err(Error::new(Code::InvalidBody, "the push is too large"));
        }
        let outer = parse_body(body).ok_or_else(|| {
            Error::new(
                Code::InvalidBody,
                "the push is neither a JSON object nor WeChat's XML",
            )
        })?;
        let event = match (cfg.secrets.key(), outer.get("Encrypt")) {
            (Some(key), Some(Value::String(enc))) => {
                let msig = q.msg_signature.as_deref().unwrap_or_default();
                if !same(
                    &sign(&[cfg.secrets.token(), &ts, &nonce, enc]),
                    &msig.to_ascii_lowercase(),
                ) {
                    return Err(refused(
                        Code::SignatureInvalid,
                        "the msg_signature does not match",
                    ));
                }
                let (msg, appid) = decrypt(key, enc).map_err(|_| {
                    Error::new(Code::InvalidBody, "the encrypted body cannot be read")
                })?;
                if appid != cfg.appid {
                    return Err(refused(
                        Code::PushWrongApp,
                        "the push is for another mini-program",
                    ));
                }
                parse_body(&msg).ok_or_else(|| {
                    Error::new(
                        Code::InvalidBody,
                        "the decrypted push is neither a JSON object nor WeChat's XML",
                    )
                })?
            }
            (Some(_), _) => {
                return Err(Error::new(
                    Code::InvalidBody,
                    "safe mode is configured: the push must carry Encrypt",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::new(
                    Code::InvalidBody,
                    "an encrypted push, but no EncodingAESKey is configured (wechat.push_aes_key)",
                ));
            }
            (None, None) => outer,
        };
        // Remembered only once verified, so forgeries cannot fill the store.
        let seen = Item::new(keys::WX_PUSH, format!("n#{ts}#{nonce}"), Map::new())
            .expiring_at(self.clock.now_secs() + 2 * MAX_AGE_SECS + 60);
        match self.store.put(seen, Some(Cond::NotExists)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                return Err(refused(
                    Code::PushReplayed,
                    "this push (timestamp and nonce) was received before",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let event = Value::Object(event);
        let id = event_id(&event);
        if let Some(id) = &id {
            let mark = Item::new(keys::WX_PUSH, format!("e#{id}"), Map::new())
                .expiring_at(self.clock.now_secs() + EVENT_MEMORY_SECS);
            match self.store.put(mark, Some(Cond::NotExists)).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => return Ok(Received::Duplicate),
                Err(e) => return Err(e.into()),
            }
        }
        // A push not answered `success` is sent again by WeChat, perhaps as the same
        // request: its nonce and event id are forgotten so the retry runs.
        let forget = || async {
            let _ = self
                .store
                .delete(keys::WX_PUSH, &format!("n#{ts}#{nonce}"), None)
                .await;
            if let Some(id) = &id {
                let _ = self
                    .store
                    .delete(keys::WX_PUSH, &format!("e#{id}"), None)
                    .await;
            }
        };
        if let (Some(files), Some(v)) = (&self.files, MediaVerdict::from_event(&event)) {
            match files.settle_media_check(&v).await {
                Ok(true) => return Ok(Received::Settled),
                Ok(false) => {}
                Err(e) => {
                    // WeChat retries a push not answered `success`: let the retry do it.
                    forget().await;
                    return Err(e);
                }
            }
        }
        let Some((module, export)) = &cfg.handler else {
            return Ok(Received::Handled {
                event,
                handed_on: false,
            });
        };
        let r = self
            .functions
            .invoke(Invocation {
                caller: Caller::AdminKey,
                module: module.clone(),
                export: export.clone(),
                args: vec![event.clone()],
                trigger: Trigger::WeChatEvent,
                depth: 0,
                request_id: request_id.to_string(),
            })
            .await;
        if let Err(e) = r {
            // WeChat retries a push not answered `success`: let the retry run it.
            forget().await;
            return Err(e);
        }
        Ok(Received::Handled {
            event,
            handed_on: true,
        })
    }
}

/// A push body, JSON or XML (by its first character).
fn parse_body(body: &[u8]) -> Option<Map<String, Value>> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    match body[start] {
        b'<' => super::push_xml::parse(body),
        b'{' => serde_json::from_slice(body).ok(),
        _ => None,
    }
}

/// What makes an event the same event when WeChat sends it again: its `MsgId`, else its
/// `trace_id` (media checks), else sender, time and event.
pub fn event_id(event: &Value) -> Option<String> {
    let s = |k: &str| match event.get(k) {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let raw = if let Some(m) = s("MsgId") {
        format!("m:{m}")
    } else if let Some(t) = s("trace_id") {
        format!("t:{t}")
    } else {
        let (from, time) = (s("FromUserName")?, s("CreateTime")?);
        format!(
            "f:{from}:{time}:{}",
            s("Event").or_else(|| s("MsgType")).unwrap_or_default()
        )
    };
    // A fixed-size key whatever the sender put in the ids.
    Some(hex::encode(sha2::Sha256::digest(raw.as_bytes())))
}

/// The answer WeChat expects to a push it should not send again.
pub const SUCCESS: &str = "success";

/// The format of a push's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    Json,
    Xml,
}

impl PushFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            PushFormat::Json => "application/json",
            PushFormat::Xml => "text/xml",
        }
    }

    fn write(self, fields: &Value) -> String {
        match (self, fields) {
            (PushFormat::Xml, Value::Object(m)) => super::push_xml::to_xml(m),
            _ => fields.to_string(),
        }
    }
}

/// A push as WeChat sends it, for the mock and the tests: the query and body of an
/// event, signed with `secrets` and, with a key, encrypted for `appid`.
pub fn make_push(
    secrets: &PushSecrets,
    appid: &str,
    event: &Value,
    timestamp: i64,
    nonce: &str,
    random: &[u8; 16],
    format: PushFormat,
) -> (Vec<(String, String)>, String) {
    let ts = timestamp.to_string();
    let mut q = vec![
        (
            "signature".to_string(),
            sign(&[secrets.token(), &ts, nonce]),
        ),
        ("timestamp".to_string(), ts.clone()),
        ("nonce".to_string(), nonce.to_string()),
    ];
    if let Some(openid) = event.get("FromUserName").and_then(Value::as_str) {
        q.push(("openid".into(), openid.to_string()));
    }
    let body = match secrets.key() {
        Some(key) => {
            let enc = encrypt(key, random, format.write(event).as_bytes(), appid);
            q.push(("encrypt_type".into(), "aes".into()));
            q.push((
                "msg_signature".into(),
                sign(&[secrets.token(), &ts, nonce, &enc]),
            ));
            let to = event.get("ToUserName").cloned().unwrap_or(Value::Null);
            format.write(&json!({ "ToUserName": to, "Encrypt": enc }))
        }
        None => format.write(event),
    };
    (q, body)
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
