//! Secrets never leave a call — not in its answer, its error, its details or its logs —
//! in any of the forms text usually carries them: as they are, JSON-escaped (a secret
//! logged inside an object), Rust-escaped (a store error that quotes it with `{:?}`),
//! percent-encoded (in a URL), base64 (standard or URL-safe, padded or not) and hex.
//! Redaction runs before anything is cut to length, so a cut cannot split a secret past
//! it.

use serde_json::{Map, Value};

/// What replaces a secret.
pub const MASK: &str = "[secret]";

/// The text forms of a set of secrets, longest first.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

fn strip_quotes(s: String) -> String {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map(str::to_string)
        .unwrap_or(s)
}

fn percent(s: &str, upper: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// Every form of `secret` this module redacts.
pub fn forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut v = vec![
        secret.to_string(),
        strip_quotes(serde_json::to_string(secret).unwrap_or_default()),
        strip_quotes(format!("{secret:?}")),
        percent(secret, true),
        percent(secret, false),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        hex::encode(secret),
        hex::encode_upper(secret),
    ];
    // JSON-escaped twice: a log line of an object holding an object's JSON.
    let once = v[1].clone();
    v.push(strip_quotes(
        serde_json::to_string(&once).unwrap_or_default(),
    ));
    v.retain(|s| !s.is_empty());
    v
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut needles: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(forms)
            .collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Replaces every form of every secret in `s`.
    pub fn clean(&self, s: &mut String) {
        for n in &self.needles {
            if s.contains(n.as_str()) {
                *s = s.replace(n.as_str(), MASK);
            }
        }
    }

    /// Cleans every string of a JSON value, keys included.
    pub fn clean_value(&self, v: &mut Value) {
        if self.is_empty() {
            return;
        }
        match v {
            Value::String(s) => self.clean(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.clean_value(x)),
            Value::Object(m) => {
                let old = std::mem::take(m);
                let mut out = Map::new();
                for (mut k, mut x) in old {
                    self.clean(&mut k);
                    self.clean_value(&mut x);
                    out.insert(k, x);
                }
                *m = out;
            }
            _ => {}
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub fn cut(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk-live-Ab3\"q\\zZ9/+é";

    #[test]
    fn every_form_is_masked() {
        let r = Redactor::new([SECRET]);
        let json_once = serde_json::to_string(&serde_json::json!({ "k": SECRET })).unwrap();
        let json_twice = serde_json::to_string(&serde_json::json!({ "log": json_once })).unwrap();
        let samples = vec![
            format!("raw {SECRET} end"),
            format!("no table {SECRET:?}"),
            json_once,
            json_twice,
            format!("https://x/?k={}", percent(SECRET, true)),
            format!("https://x/?k={}", percent(SECRET, false)),
            {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(SECRET)
            },
            {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET)
            },
            hex::encode(SECRET),
            hex::encode_upper(SECRET),
        ];
        for mut s in samples {
            let before = s.clone();
            r.clean(&mut s);
            assert!(s.contains(MASK), "{before} -> {s}");
            for f in forms(SECRET) {
                assert!(!s.contains(&f), "{before} still holds {f}: {s}");
            }
        }
    }

    #[test]
    fn values_keys_included_and_cuts_after_redaction() {
        let r = Redactor::new([SECRET]);
        let mut v = serde_json::json!({SECRET: [format!("x{SECRET}"), {"d": SECRET}], "n": 1});
        r.clean_value(&mut v);
        let s = v.to_string();
        assert!(!s.contains("sk-live"), "{s}");
        assert_eq!(v["n"], 1);
        // A secret at the end of a long line is masked before the line is cut.
        let mut line = format!("{}{SECRET}", "x".repeat(1995));
        r.clean(&mut line);
        cut(&mut line, 2000);
        assert!(!line.contains("sk-li"), "{line}");
    }
}
