//! Identifiers and secrets.
//!
//! Ids are sortable by creation time and unguessable: 48 bits of milliseconds then 80
//! random bits, in lowercase Crockford base32 (26 characters), like a ULID.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

pub fn new_id(now_ms: i64) -> String {
    let mut rnd = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut rnd);
    let mut v: u128 = (now_ms.max(0) as u128 & 0xffff_ffff_ffff) << 80;
    for (i, b) in rnd.iter().enumerate() {
        v |= (*b as u128) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((v >> (5 * i)) & 31) as usize] as char)
        .collect()
}

pub fn is_id(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| CROCKFORD.contains(&b))
}

/// A bearer secret: 256 random bits, base64url.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!(
        "yq_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// What is stored in place of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison for secrets.
pub fn secret_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    let ha = Sha256::digest(a.as_bytes());
    let hb = Sha256::digest(b.as_bytes());
    ha.ct_eq(&hb).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let a = new_id(1_000);
        let b = new_id(1_001);
        let c = new_id(1_001);
        assert!(is_id(&a) && is_id(&b));
        assert!(a < b);
        assert_ne!(b, c);
        assert!(!is_id("not-an-id"));
    }

    #[test]
    fn tokens_are_long_and_hashed() {
        let t = new_token();
        assert!(t.len() >= 46);
        assert_ne!(t, new_token());
        assert_eq!(token_hash(&t).len(), 64);
        assert!(secret_eq("abc", "abc") && !secret_eq("abc", "abd"));
    }
}
