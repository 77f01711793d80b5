//! WeChat Pay v3 signatures (RSASSA-PKCS1-v1_5 with SHA-256), and the keys they use.
//!
//! * Requests to WeChat Pay are signed with the merchant's private key over
//!   `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` ([`request_message`]) and sent as
//!   `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,timestamp=…,serial_no=…,signature=…`.
//! * `wx.requestPayment`'s `paySign` is the same signature over
//!   `appId\ntimeStamp\nnonceStr\npackage\n` ([`pay_sign_message`]).
//! * WeChat signs its answers and notifications with a platform certificate or a
//!   WeChat Pay public key ([`PublicKey`]; `notify` picks one by serial).
//!
//! Private keys never print: [`MerchantKey`]'s `Debug` is `<redacted>`. Only the public
//! half is ever verified with, so timing of private operations stays in `ring`.

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair, RsaKeyPair};

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// The scheme name of WeChat Pay v3's `Authorization` header.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// A key that could not be read (the message never quotes the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub &'static str);

/// The merchant's API private key (`apiclient_key.pem`, PKCS#8 or PKCS#1 PEM).
pub struct MerchantKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MerchantKey(<redacted>)")
    }
}

impl MerchantKey {
    pub fn from_pem(pem: &str) -> Result<MerchantKey, KeyError> {
        let (label, der) = pem_decode(pem)?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            _ => return Err(KeyError("expected a PRIVATE KEY or RSA PRIVATE KEY PEM")),
        }
        .map_err(|_| KeyError("the merchant key is not a usable RSA private key"))?;
        Ok(MerchantKey { pair })
    }

    /// base64(RSA-SHA256(key, message)).
    pub fn sign(&self, message: &[u8]) -> String {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        // Signing with a well-formed key and a correctly sized buffer cannot fail;
        // an empty signature (refused by every verifier) is the safe fallback.
        if self
            .pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .is_err()
        {
            return String::new();
        }
        B64.encode(sig)
    }

    /// The public half (what WeChat Pay verifies requests with).
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            pkcs1: self.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// An RSA public key WeChat signs with (or a merchant's, for the mock).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// DER `RSAPublicKey` (PKCS#1), what `ring` verifies with.
    pkcs1: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} bytes)", self.pkcs1.len())
    }
}

impl PublicKey {
    /// A `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM.
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let (label, der) = pem_decode(pem)?;
        match label.as_str() {
            "PUBLIC KEY" => Self::from_spki(&der),
            "RSA PUBLIC KEY" => Ok(PublicKey { pkcs1: der }),
            "CERTIFICATE" => Ok(Certificate::from_der(&der)?.key),
            _ => Err(KeyError("expected a PUBLIC KEY PEM")),
        }
    }

    fn from_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
        const BAD: KeyError = KeyError("not an RSA SubjectPublicKeyInfo");
        let (spki, _) = der::expect(der, der::SEQUENCE).ok_or(BAD)?;
        let (alg, rest) = der::expect(spki, der::SEQUENCE).ok_or(BAD)?;
        let (oid, _) = der::expect(alg, der::OID).ok_or(BAD)?;
        if oid != RSA_ENCRYPTION {
            return Err(KeyError("not an RSA key"));
        }
        let (bits, _) = der::expect(rest, der::BIT_STRING).ok_or(BAD)?;
        match bits.split_first() {
            Some((0, key)) => Ok(PublicKey {
                pkcs1: key.to_vec(),
            }),
            _ => Err(BAD),
        }
    }

    /// The SPKI PEM of this key (what the mock hands out as a WeChat Pay public key).
    pub fn to_spki_pem(&self) -> String {
        let mut bits = vec![0u8];
        bits.extend_from_slice(&self.pkcs1);
        let alg = der::tlv(
            der::SEQUENCE,
            &[der::tlv(der::OID, RSA_ENCRYPTION), vec![0x05, 0x00]].concat(),
        );
        let spki = der::tlv(
            der::SEQUENCE,
            &[alg, der::tlv(der::BIT_STRING, &bits)].concat(),
        );
        pem_encode("PUBLIC KEY", &spki)
    }

    /// Checks a base64 RSA-SHA256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(message, &sig)
            .is_ok()
    }
}

/// A WeChat Pay platform certificate: its serial (upper-case hex, as `Wechatpay-Serial`
/// names it) and its key. Its own signature is not checked: certificates are configured
/// by the merchant, not received.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub serial: String,
    pub key: PublicKey,
}

impl Certificate {
    pub fn from_pem(pem: &str) -> Result<Certificate, KeyError> {
        let (label, der) = pem_decode(pem)?;
        if label != "CERTIFICATE" {
            return Err(KeyError("expected a CERTIFICATE PEM"));
        }
        Self::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Certificate, KeyError> {
        const BAD: KeyError = KeyError("not an X.509 certificate");
        let (cert, _) = der::expect(der, der::SEQUENCE).ok_or(BAD)?;
        let (tbs, _) = der::expect(cert, der::SEQUENCE).ok_or(BAD)?;
        let mut rest = tbs;
        // [0] EXPLICIT version, optional.
        if let Some((0xa0, _, r)) = der::next(rest) {
            rest = r;
        }
        let (serial, rest) = der::expect(rest, der::INTEGER).ok_or(BAD)?;
        let serial = match serial.split_first() {
            Some((0, s)) if !s.is_empty() => s,
            _ => serial,
        };
        let mut rest = rest;
        // signature algorithm, issuer, validity, subject.
        for _ in 0..4 {
            rest = der::expect(rest, der::SEQUENCE).ok_or(BAD)?.1;
        }
        let spki_len = der::next(rest).ok_or(BAD)?;
        let spki = &rest[..rest.len() - spki_len.2.len()];
        Ok(Certificate {
            serial: hex::encode_upper(serial),
            key: PublicKey::from_spki(spki)?,
        })
    }
}

/// `1.2.840.113549.1.1.1`
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The string a request to WeChat Pay is signed over.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header of a signed request.
pub fn authorization(
    mchid: &str,
    serial_no: &str,
    nonce: &str,
    timestamp: i64,
    signature: &str,
) -> String {
    format!(
        "{AUTH_SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",serial_no=\"{serial_no}\",signature=\"{signature}\""
    )
}

/// The fields of an `Authorization` header (for the mock, which checks them).
pub fn parse_authorization(header: &str) -> Option<std::collections::HashMap<String, String>> {
    let rest = header.strip_prefix(AUTH_SCHEME)?.strip_prefix(' ')?;
    let mut out = std::collections::HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        out.insert(k.to_string(), v.to_string());
    }
    Some(out)
}

/// The string `paySign` is computed over.
pub fn pay_sign_message(appid: &str, timestamp: &str, nonce: &str, package: &str) -> String {
    format!("{appid}\n{timestamp}\n{nonce}\n{package}\n")
}

/// The string WeChat signs its answers and notifications over.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + timestamp.len() + nonce.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// A random nonce of `n` characters of `[0-9A-Za-z]`.
pub fn nonce(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Reads one PEM block: its label and its bytes. Tolerates `\n` written as two
/// characters (keys passed through environment variables) and `TESTING KEY` labels.
pub fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    let pem = pem.replace("\\n", "\n");
    let mut lines = pem.lines().map(str::trim).skip_while(|l| l.is_empty());
    let first = lines.next().ok_or(KeyError("empty PEM"))?;
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or(KeyError("not a PEM block"))?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut b64 = String::new();
    let mut ended = false;
    for l in lines {
        if l == end {
            ended = true;
            break;
        }
        b64.push_str(l);
    }
    if !ended {
        return Err(KeyError("PEM block has no end line"));
    }
    let der = B64
        .decode(b64)
        .map_err(|_| KeyError("PEM body is not base64"))?;
    Ok((label, der))
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Just enough DER to find keys and serials.
mod der {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;

    /// `(tag, contents, rest)`.
    pub fn next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    pub fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        match next(input)? {
            (t, c, r) if t == tag => Some((c, r)),
            _ => None,
        }
    }

    pub fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = contents.len();
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(contents);
        out
    }
}
