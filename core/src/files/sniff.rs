//! What a file's bytes are, whatever its uploader declared: the type is sniffed from the
//! first bytes, and a file is kept only when they agree with the declared type.

/// How many leading bytes are read to sniff a type.
pub const SNIFF_BYTES: usize = 8192;

/// The type the bytes start like, if they are of a kind with a signature.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    infer::get(bytes).map(|t| t.mime_type())
}

/// One name per type, where the same type goes by several.
pub(crate) fn canonical(t: &str) -> &str {
    match t {
        "image/jpg" | "image/pjpeg" => "image/jpeg",
        "audio/m4a" | "audio/x-m4a" => "audio/mp4",
        "audio/x-aac" => "audio/aac",
        "audio/mp3" => "audio/mpeg",
        "application/x-pdf" => "application/pdf",
        other => other,
    }
}

/// Types whose bytes carry no signature: accepted when they are UTF-8 text.
const TEXT_TYPES: &[&str] = &["text/plain", "text/csv", "application/json"];

/// Whether `essence` (a lowercase `type/subtype`) is one of `allowed` (exact, or a
/// `type/*` family).
pub fn allowed(essence: &str, allowed: &[String]) -> bool {
    let essence = canonical(essence);
    let Some((family, _)) = essence.split_once('/') else {
        return false;
    };
    allowed.iter().any(|a| {
        let a = canonical(a);
        a == essence || a.strip_suffix("/*") == Some(family)
    })
}

/// Whether bytes that sniff as `sniffed` may be kept as `declared`: the same type, or a
/// text type holding UTF-8 text (no NUL) that sniffs as nothing else.
pub fn type_matches(declared: &str, sniffed: Option<&str>, head: &[u8]) -> bool {
    let declared = canonical(declared);
    match sniffed {
        Some(s) => canonical(s) == declared,
        None => TEXT_TYPES.contains(&declared) && !head.contains(&0) && utf8_prefix(head),
    }
}

/// Whether `head` is valid UTF-8, allowing a character cut at its end.
fn utf8_prefix(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";

    #[test]
    fn types_are_judged_by_their_bytes() {
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(JPEG), Some("image/jpeg"));
        assert!(type_matches("image/png", sniff(PNG), PNG));
        assert!(type_matches("image/jpg", sniff(JPEG), JPEG));
        assert!(
            !type_matches("image/jpeg", sniff(PNG), PNG),
            "a PNG declared as JPEG"
        );
        assert!(
            !type_matches("image/png", None, b"hello"),
            "text declared as an image"
        );
        assert!(type_matches("text/plain", None, "你好, world".as_bytes()));
        assert!(
            type_matches("text/plain", None, &"你好".as_bytes()[..4]),
            "cut mid-character"
        );
        assert!(!type_matches("text/plain", None, b"a\0b"), "binary as text");
        assert!(
            !type_matches("text/plain", sniff(PNG), PNG),
            "an image as text"
        );
        let html = b"<!DOCTYPE html><html><script>alert(1)</script>";
        assert!(!type_matches("image/png", sniff(html), html));
    }

    #[test]
    fn allowed_types_are_exact_or_a_family() {
        let list = vec!["image/*".to_string(), "application/pdf".to_string()];
        assert!(allowed("image/png", &list));
        assert!(allowed("image/jpg", &list));
        assert!(allowed("application/pdf", &list));
        assert!(!allowed("application/json", &list));
        assert!(!allowed("text/html", &list));
        assert!(!allowed("image", &list));
        assert!(!allowed("imagex/png", &list));
    }
}
