//! Writes a conversion as a yunqiao export archive (docs/export-format.md, version 1):
//! a gzip'd tar of `manifest.json`, `schemas.ndjson`, `tables/<t>.ndjson`,
//! `users.ndjson`, `files.ndjson` and `blobs/<id>`.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Converted;

fn ndjson<T: Serialize>(items: impl IntoIterator<Item = T>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for it in items {
        serde_json::to_writer(&mut out, &it)?;
        out.push(b'\n');
    }
    Ok(out)
}

fn entry<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, bytes)
}

/// The manifest's `counts` for this conversion.
pub fn counts(c: &Converted) -> Value {
    json!({
        "tables": c.tables.len(),
        "records": c.tables.iter().map(|t| t.records.len()).sum::<usize>(),
        "users": c.users.len(),
        "files": c.files.len(),
    })
}

/// Writes the archive of `c` to `w`; `created_at` (RFC 3339) goes in the manifest.
pub fn write<W: Write>(c: &Converted, w: W, created_at: &str) -> io::Result<W> {
    let mut tar = tar::Builder::new(GzEncoder::new(w, Compression::default()));
    let manifest = json!({
        "format": "yunqiao-export",
        "version": 1,
        "created_at": created_at,
        "source": {"face": c.plan.source.name(), "yunqiao": env!("CARGO_PKG_VERSION")},
        "counts": counts(c),
    });
    entry(
        &mut tar,
        "manifest.json",
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    let schemas = c
        .tables
        .iter()
        .map(|t| json!({"name": t.name, "def": t.def}));
    entry(&mut tar, "schemas.ndjson", &ndjson(schemas)?)?;
    for t in &c.tables {
        entry(
            &mut tar,
            &format!("tables/{}.ndjson", t.name),
            &ndjson(&t.records)?,
        )?;
    }
    let users = c.users.iter().map(|u| {
        json!({
            "id": u.id, "openid": u.openid, "unionid": u.unionid, "nickname": u.nickname,
            "avatar_url": u.avatar_url, "phone": null, "groups": u.groups, "profile": {},
            "created_at": u.created_at, "updated_at": u.updated_at,
        })
    });
    entry(&mut tar, "users.ndjson", &ndjson(users)?)?;
    entry(&mut tar, "files.ndjson", &ndjson(&c.files)?)?;
    for f in &c.files {
        entry(&mut tar, &format!("blobs/{}", f.id), &f.bytes)?;
    }
    tar.into_inner()?.finish()
}
