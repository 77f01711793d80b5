//! Source names → yunqiao names (`a-z 0-9 _`, starting with a letter, at most 64), and
//! ids derived from the source's own.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use yunqiao_core::tables::names::valid_name;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `TodoItem` → `todo_item`, `authorName` → `author_name`, `标题` → `f_`+hex… : a valid
/// name, always.
pub fn snake(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let trimmed = out.trim_matches('_').to_string();
    let mut name = if trimmed.starts_with(|c: char| c.is_ascii_lowercase()) {
        trimmed
    } else if trimmed.is_empty() {
        // Nothing ASCII left (a Chinese name, say): a stable name from its bytes.
        format!("f_{}", &hex_of(s)[..8])
    } else {
        format!("f_{trimmed}")
    };
    name.truncate(64);
    debug_assert!(valid_name(&name));
    name
}

fn hex_of(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `want`, or `want_2`, `want_3`… : the first not in `taken` (which it joins).
pub fn unique(want: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = want.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        let mut base = want.to_string();
        base.truncate(64 - suffix.len());
        name = format!("{base}{suffix}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// A yunqiao id for `parts` (source, class, old id…): 48 bits of `time_ms` then 80 bits
/// of their SHA-256, so the same row always gets the same id, and ids sort by time.
pub fn derived_id(time_ms: i64, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    let mut v: u128 = (time_ms.clamp(0, 0xffff_ffff_ffff) as u128) << 80;
    for (i, b) in d.iter().take(10).enumerate() {
        v |= (*b as u128) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((v >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// A LeanCloud role name as a group name (lowercase; `-` and `_` kept), or `None` when
/// nothing of it fits.
pub fn group_name(role: &str) -> Option<String> {
    let g: String = role
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            ' ' | '.' => '-',
            c => c,
        })
        .collect();
    yunqiao_core::auth::valid_group(&g).then_some(g)
}
