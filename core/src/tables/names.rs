//! The names of tables, fields, function modules and their exports.

/// A table or field name (also a KV namespace's): 1 to 64 of `a-z 0-9 _`, starting
/// with a letter.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `a-z0-9_-`, starting with a letter, at most 64.
pub fn valid_module_name(m: &str) -> bool {
    (1..=64).contains(&m.len())
        && m.starts_with(|c: char| c.is_ascii_lowercase())
        && m.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A JavaScript identifier of at most 64 ASCII characters.
pub fn valid_export_name(e: &str) -> bool {
    (1..=64).contains(&e.len())
        && e.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && e.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}
