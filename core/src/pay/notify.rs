//! WeChat Pay's notifications (and signed answers): which key, how fresh, what inside.
//!
//! * The key is the one whose id equals `Wechatpay-Serial`: a platform certificate's
//!   serial or a WeChat Pay public key's `PUB_KEY_ID_…`. Both kinds are held at once
//!   ([`WxPayKeys`]), because during a merchant's switch WeChat signs with either.
//! * The signed string is `TS\nNONCE\nBODY\n`; a timestamp [`MAX_SKEW_SECS`] or more away
//!   from now is stale; a signature starting `WECHATPAY/SIGNTEST/` is WeChat's probe and
//!   must fail.
//! * The resource is AES-256-GCM with the 32-byte APIv3 key, the 12-byte nonce and the
//!   associated data as given; the ciphertext ends with the 16-byte tag.

use std::collections::HashMap;

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::Deserialize;

use super::sign::{Certificate, KeyError, PublicKey, response_message};
use crate::error::{Code, Error};

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// `|now − Wechatpay-Timestamp|` must stay under this.
pub const MAX_SKEW_SECS: i64 = 300;
/// WeChat's signature probes start with this; they must never verify.
pub const SIGNTEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";
/// Largest notification body read (WeChat's are about 1 KB).
pub const MAX_NOTIFY_BYTES: usize = 64 * 1024;

/// Why a signed message was refused. Each is logged by name; none says more to the
/// sender than "FAIL".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a Wechatpay-* header is missing or malformed")]
    MissingHeaders,
    #[error("a WECHATPAY/SIGNTEST/ probe")]
    Probe,
    #[error("the timestamp is 5 minutes or more away")]
    Stale,
    #[error("no key with this Wechatpay-Serial")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the body is not a WeChat Pay notification")]
    Malformed,
    #[error("the resource does not decrypt with the APIv3 key")]
    Undecryptable,
    #[error("the notification is about an order this merchant or app does not have")]
    NotOurs,
    #[error("the amount differs from the order's")]
    AmountMismatch,
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::MissingHeaders
            | Refusal::Probe
            | Refusal::Stale
            | Refusal::UnknownKey
            | Refusal::BadSignature => Code::PayNotifySignatureInvalid,
            _ => Code::PayNotifyInvalid,
        };
        Error::new(code, r.to_string())
    }
}

pub use crate::wechat::SignedHeaders;

/// The keys WeChat Pay signs with, by id.
#[derive(Debug, Clone, Default)]
pub struct WxPayKeys {
    keys: HashMap<String, PublicKey>,
}

impl WxPayKeys {
    /// Adds a platform certificate, known by its own serial.
    pub fn add_certificate(&mut self, pem: &str) -> Result<String, KeyError> {
        let cert = Certificate::from_pem(pem)?;
        self.keys.insert(cert.serial.clone(), cert.key);
        Ok(cert.serial)
    }

    /// Adds a WeChat Pay public key under its id (`PUB_KEY_ID_…`).
    pub fn add_public_key(&mut self, id: &str, pem: &str) -> Result<(), KeyError> {
        if id.is_empty() {
            return Err(KeyError("a WeChat Pay public key needs its id"));
        }
        self.keys.insert(id.to_string(), PublicKey::from_pem(pem)?);
        Ok(())
    }

    /// The id of a WeChat Pay public key held, if any: requests name it in their
    /// `Wechatpay-Serial` so that answers are signed with it.
    pub fn public_key_id(&self) -> Option<String> {
        let mut ids: Vec<&String> = self
            .keys
            .keys()
            .filter(|k| k.starts_with("PUB_KEY_ID_"))
            .collect();
        ids.sort();
        ids.first().map(|s| s.to_string())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks who signed `body` and when.
    pub fn verify(&self, h: &SignedHeaders, body: &[u8], now_secs: i64) -> Result<(), Refusal> {
        if h.signature.is_empty() || h.serial.is_empty() || h.nonce.is_empty() {
            return Err(Refusal::MissingHeaders);
        }
        if h.signature.starts_with(SIGNTEST_PREFIX) {
            return Err(Refusal::Probe);
        }
        let ts: i64 = h
            .timestamp
            .trim()
            .parse()
            .map_err(|_| Refusal::MissingHeaders)?;
        if ts.abs_diff(now_secs) >= MAX_SKEW_SECS as u64 {
            return Err(Refusal::Stale);
        }
        let key = self.keys.get(&h.serial).ok_or(Refusal::UnknownKey)?;
        if key.verify(
            &response_message(&h.timestamp, &h.nonce, body),
            &h.signature,
        ) {
            Ok(())
        } else {
            Err(Refusal::BadSignature)
        }
    }
}

/// The APIv3 key: 32 bytes used as they are (not hex, not base64).
#[derive(Clone)]
pub struct ApiV3Key([u8; 32]);

impl std::fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

impl ApiV3Key {
    pub fn new(key: &str) -> Result<ApiV3Key, KeyError> {
        <[u8; 32]>::try_from(key.as_bytes())
            .map(ApiV3Key)
            .map_err(|_| KeyError("the APIv3 key must be exactly 32 bytes"))
    }

    fn aead(&self) -> LessSafeKey {
        // A 32-byte key always makes an AES-256 key.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).unwrap_or_else(|_| unreachable!()))
    }

    /// Decrypts a resource: `ciphertext_b64` is ciphertext ‖ tag.
    pub fn decrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        ciphertext_b64: &str,
    ) -> Result<Vec<u8>, Refusal> {
        let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes())
            .map_err(|_| Refusal::Undecryptable)?;
        let mut buf = B64
            .decode(ciphertext_b64)
            .map_err(|_| Refusal::Undecryptable)?;
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(associated_data.as_bytes()), &mut buf)
            .map_err(|_| Refusal::Undecryptable)?;
        Ok(plain.to_vec())
    }

    /// Encrypts a resource as WeChat does (the mock's half).
    pub fn encrypt(&self, nonce: &str, associated_data: &str, plaintext: &[u8]) -> Option<String> {
        let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes()).ok()?;
        let mut buf = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(nonce, Aad::from(associated_data.as_bytes()), &mut buf)
            .ok()?;
        Some(B64.encode(buf))
    }
}

/// A notification's envelope.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(default)]
    pub create_time: String,
    pub event_type: String,
    #[serde(default)]
    pub resource_type: String,
    pub resource: Resource,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    pub algorithm: String,
    pub ciphertext: String,
    pub nonce: String,
    #[serde(default)]
    pub associated_data: String,
    #[serde(default)]
    pub original_type: String,
}

/// The decrypted `transaction` of a `TRANSACTION.SUCCESS` notification (also what the
/// query API answers).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: String,
    pub trade_state: String,
    #[serde(default)]
    pub success_time: String,
    #[serde(default)]
    pub payer: Option<Payer>,
    #[serde(default)]
    pub amount: Option<TxAmount>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Payer {
    #[serde(default)]
    pub openid: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TxAmount {
    pub total: i64,
    #[serde(default)]
    pub payer_total: Option<i64>,
    #[serde(default)]
    pub currency: String,
}

/// Verifies a notification and returns its envelope and decrypted resource.
pub fn open(
    keys: &WxPayKeys,
    api_key: &ApiV3Key,
    h: &SignedHeaders,
    body: &[u8],
    now_secs: i64,
) -> Result<(Notification, Vec<u8>), Refusal> {
    if body.len() > MAX_NOTIFY_BYTES {
        return Err(Refusal::Malformed);
    }
    keys.verify(h, body, now_secs)?;
    let n: Notification = serde_json::from_slice(body).map_err(|_| Refusal::Malformed)?;
    if n.resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(Refusal::Malformed);
    }
    let plain = api_key.decrypt(
        &n.resource.nonce,
        &n.resource.associated_data,
        &n.resource.ciphertext,
    )?;
    Ok((n, plain))
}
