//! Export and import (`YUNQIAO_BENCH=dump`): records per second of a 100,000-record table
//! (`YUNQIAO_BENCH_DUMP_RECORDS`) on the embedded store, beside the raw store doing the
//! same amount of work in the same run:
//! * import (the archive read, every line checked as a create, then written with its
//!   index entries and counts rebuilt, as many records a commit as a transaction takes)
//!   beside raw transactional puts of the same records, 100 a commit;
//! * export (every record read and written to the gzip'd tar) beside a raw scan of the
//!   same partition;
//! * the same archive imported again (every record read and found unchanged).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yunqiao_core::store::{Item, ItemStore, MAX_TRANSACTION_OPS, Query, WriteOp};

use crate::BoxError;

const TABLE: &str = "bench_dump";

fn record(i: usize, now_ms: i64) -> Value {
    json!({
        "_id": yunqiao_core::ids::new_id(now_ms + i as i64),
        "_owner": null,
        "_group": null,
        "_v": 1,
        "title": format!("item {i:06} 你好"),
        "n": i,
        "tags": ["a", "b"],
        "body": "x".repeat(200),
    })
}

/// A format-1 archive of one table of `n` records (the shape `yunqiao export` writes).
fn archive(n: usize) -> Result<Vec<u8>, BoxError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut records = Vec::with_capacity(n * 330);
    for i in 0..n {
        serde_json::to_writer(&mut records, &record(i, now - n as i64))?;
        records.push(b'\n');
    }
    let schema = json!({"name": TABLE, "def": {
        "fields": [
            {"name": "title", "type": "string", "index": true},
            {"name": "n", "type": "integer", "index": true},
            {"name": "tags", "type": "json"},
            {"name": "body", "type": "string"},
        ],
        "acl": {"record": "rwd:r:r", "create": "users"},
    }});
    let manifest = json!({"format": "yunqiao-export", "version": 1,
        "counts": {"tables": 1, "records": n}});
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in [
        ("manifest.json", serde_json::to_vec(&manifest)?),
        ("schemas.ndjson", format!("{schema}\n").into_bytes()),
        (&format!("tables/{TABLE}.ndjson") as &str, records),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    Ok(gz.finish()?)
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn line(what: &str, n: usize, ours: Duration, base_what: &str, base: Duration) {
    println!(
        "{what:<34} {:>8.0} records/s ({:>6.1} s)   {base_what:<30} {:>9.0}/s   {:.2}x",
        per_sec(n, ours),
        ours.as_secs_f64(),
        per_sec(n, base),
        base.as_secs_f64() / ours.as_secs_f64()
    );
}

pub async fn bench(n: usize) -> Result<(), BoxError> {
    println!(
        "\n== export / import: a table of {n} records (4 fields, 2 indexed, ~330 bytes), the embedded store =="
    );
    let bytes = archive(n)?;
    let archive_mb = bytes.len() as f64 / 1e6;

    // The baseline: the same records as raw items, 100 a transaction (DynamoDB's limit,
    // which the import's groups also keep to), then one scan of them.
    let raw_dir = tempfile::tempdir()?;
    let raw = yunqiao_local::LocalStore::open(
        &raw_dir.path().join("raw.redb"),
        std::sync::Arc::new(yunqiao_core::clock::SystemClock),
    )?;
    let items: Vec<Item> = (0..n)
        .map(|i| {
            let mut r = record(i, 0);
            let id = r["_id"].as_str().unwrap_or_default().to_string();
            r.as_object_mut().map(|o| o.remove("_id"));
            Item::new("raw", id, r.as_object().cloned().unwrap_or_default())
        })
        .collect();
    let t = Instant::now();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        let ops: Vec<WriteOp> = it
            .by_ref()
            .take(MAX_TRANSACTION_OPS)
            .map(|item| WriteOp::Put { item, cond: None })
            .collect();
        raw.transact(ops).await?;
    }
    let raw_put = t.elapsed();
    let t = Instant::now();
    let mut scanned = 0;
    let mut q = Query::partition("raw");
    q.limit = 1000;
    loop {
        let page = raw.query(q.clone()).await?;
        scanned += page.items.len();
        match page.cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let raw_scan = t.elapsed();
    assert_eq!(scanned, n, "the raw scan read every item");
    drop(raw);

    let dir = tempfile::tempdir()?;
    let cfg = crate::bench_config(dir.path())?;
    let (state, _local) = yunqiao::serve::build_for_tools(&cfg).await?;
    let quiet = yunqiao_api::dump::Quiet;
    let t = Instant::now();
    let report = yunqiao_api::dump::import_archive(
        &state,
        bytes.as_slice(),
        yunqiao_api::dump::ImportOptions::default(),
        &quiet,
    )
    .await?;
    let import = t.elapsed();
    let created = report.items.get("records").map_or(0, |r| r.created);
    assert_eq!(created as usize, n, "every record was created");

    let t = Instant::now();
    let mut out = Vec::with_capacity(bytes.len());
    let exported =
        yunqiao_api::dump::export_archive(&state, &mut out, json!({"face": "bench"}), &quiet)
            .await?;
    let export = t.elapsed();
    assert_eq!(
        exported.counts.get("records").copied().unwrap_or(0) as usize,
        n
    );

    let t = Instant::now();
    let again = yunqiao_api::dump::import_archive(
        &state,
        out.as_slice(),
        yunqiao_api::dump::ImportOptions::default(),
        &quiet,
    )
    .await?;
    let reimport = t.elapsed();
    let unchanged = again.items.get("records").map_or(0, |r| r.unchanged);
    assert_eq!(unchanged as usize, n, "a second import changes nothing");

    line(
        "import (check + write + indexes)",
        n,
        import,
        "raw put, 100 a commit",
        raw_put,
    );
    line(
        "export (read + gzip'd tar)",
        n,
        export,
        "raw scan, 1000 a page",
        raw_scan,
    );
    line(
        "import again (all unchanged)",
        n,
        reimport,
        "raw put, 100 a commit",
        raw_put,
    );
    println!(
        "   archive {archive_mb:.1} MB written by the bench, {:.1} MB by the export",
        out.len() as f64 / 1e6
    );
    Ok(())
}
