//! `make bench`: embedded-store rates and `/v1/health` requests/s, each beside a baseline
//! measured in the same run on the same machine:
//! * store writes and reads beside raw redb doing the same durable commits and reads;
//! * cloud tables (creates with indexes, gets, indexed queries) beside the bare store
//!   operations they are built from;
//! * yunqiao's HTTP stack beside a bare hyper server answering the same JSON.
//!
//! Load comes from an in-process HTTP/1.1 generator on 127.0.0.1 with keep-alive
//! connections; it stops by itself after a fixed time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::json;
use yunqiao_core::clock::SystemClock;
use yunqiao_core::store::{Attrs, Item, ItemStore, Query};
use yunqiao_local::LocalStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn rate(n: usize, d: Duration) -> String {
    format!("{:>10.0}/s", n as f64 / d.as_secs_f64())
}

fn attrs(i: usize) -> Attrs {
    json!({"title": format!("item {i}"), "n": i, "tags": ["a", "b"], "body": "x".repeat(200)})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

const RAW: redb::TableDefinition<(&str, &str), &[u8]> = redb::TableDefinition::new("items");

async fn store_bench() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let store = LocalStore::open(&dir.path().join("bench.redb"), Arc::new(SystemClock))?;
    let raw = redb::Database::create(dir.path().join("raw.redb"))?;
    let payload = serde_json::to_vec(&json!({"a": attrs(0)}))?;

    println!("\n== embedded store (redb, fsync per commit) ==");
    // Serial durable puts: the floor is one fsync each.
    let n = 500;
    let t = Instant::now();
    for i in 0..n {
        let txn = raw.begin_write()?;
        txn.open_table(RAW)?
            .insert(("p", format!("{i:08}").as_str()), payload.as_slice())?;
        txn.commit()?;
    }
    let raw_serial = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        store
            .put(Item::new("serial", format!("{i:08}"), attrs(i)), None)
            .await?;
    }
    let ours_serial = t.elapsed();
    println!(
        "put, 1 writer        yunqiao {}   raw redb {}",
        rate(n, ours_serial),
        rate(n, raw_serial)
    );

    // Concurrent puts: group commit folds many writers into one fsync.
    let writers = 64;
    let per = 200;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                s.put(
                    Item::new(format!("p{}", i % 100), format!("{w:03}-{i:06}"), attrs(i)),
                    None,
                )
                .await?;
            }
            Ok::<_, yunqiao_core::store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let conc = t.elapsed();
    println!(
        "put, {writers} writers      yunqiao {}   (raw redb, 1 commit each: {})",
        rate(writers * per, conc),
        rate(n, raw_serial)
    );

    // Reads over the 12,800 items just written.
    let reads = 100_000;
    let mut rng = rand::thread_rng();
    let keys: Vec<(String, String)> = (0..reads)
        .map(|_| {
            let w = rng.gen_range(0..writers);
            let i = rng.gen_range(0..per);
            (format!("p{}", i % 100), format!("{w:03}-{i:06}"))
        })
        .collect();
    let t = Instant::now();
    let mut found = 0;
    for (pk, sk) in &keys {
        found += usize::from(store.get(pk, sk).await?.is_some());
    }
    let ours_get = t.elapsed();
    assert_eq!(found, reads);
    let raw_keys: Vec<String> = (0..reads)
        .map(|_| format!("{:08}", rng.gen_range(0..n)))
        .collect();
    let t = Instant::now();
    for k in &raw_keys {
        let txn = raw.begin_read()?;
        let table = txn.open_table(RAW)?;
        let v = table.get(("p", k.as_str()))?;
        if let Some(v) = v {
            let _: serde_json::Value = serde_json::from_slice(v.value())?;
        }
    }
    let raw_get = t.elapsed();
    println!(
        "get by key           yunqiao {}   raw redb get+decode {}",
        rate(reads, ours_get),
        rate(reads, raw_get)
    );

    // Range queries of 20 from a random point in a 128-item partition.
    let queries = 20_000;
    let t = Instant::now();
    let mut items = 0;
    for i in 0..queries {
        let start = format!("{:03}", i % writers);
        let q = Query::partition(format!("p{}", i % 100))
            .range(yunqiao_core::store::SkRange::Ge(start))
            .limit(20);
        items += store.query(q).await?.items.len();
    }
    let ours_q = t.elapsed();
    let t = Instant::now();
    for i in 0..queries {
        let txn = raw.begin_read()?;
        let table = txn.open_table(RAW)?;
        let start = format!("{:08}", i % (n - 20));
        let mut got = 0;
        for e in table.range(("p", start.as_str())..)?.take(20) {
            let (_, v) = e?;
            let _: serde_json::Value = serde_json::from_slice(v.value())?;
            got += 1;
        }
        assert!(got > 0);
    }
    let raw_q = t.elapsed();
    println!(
        "query, limit 20      yunqiao {}   raw redb range+decode {}   ({:.1} items/query)",
        rate(queries, ours_q),
        rate(queries, raw_q),
        items as f64 / queries as f64
    );
    Ok(())
}

async fn bare_hyper() -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let body = Bytes::from(serde_json::to_vec(
        &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(format!("{addr}"))
}

struct Load {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

async fn load(
    addr: &str,
    path: &'static str,
    conns: usize,
    dur: Duration,
) -> Result<Load, BoxError> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut lat = Vec::new();
            while start.elapsed() < dur {
                let req = hyper::Request::get(path)
                    .header("host", &addr)
                    .body(Empty::<Bytes>::new())?;
                let t = Instant::now();
                let resp = send.send_request(req).await?;
                let status = resp.status();
                resp.into_body().collect().await?;
                if status != 200 {
                    return Err::<Vec<Duration>, BoxError>(format!("status {status}").into());
                }
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
    };
    Ok(Load {
        requests: all.len(),
        elapsed,
        p50: pct(0.50).unwrap_or_default(),
        p99: pct(0.99).unwrap_or_default(),
    })
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Cloud tables on the embedded store: 100k records with two indexes; creates, gets and
/// an indexed query (equality + newest first, limit 20), each beside the bare store
/// operations it is built from, in the same run.
async fn tables_bench() -> Result<(), BoxError> {
    use yunqiao_core::auth::Caller;
    use yunqiao_core::tables::{QuerySpec, TableDef, Tables};
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(SystemClock);
    let store = LocalStore::open(&dir.path().join("tables.redb"), clock.clone())?;
    let tables = Arc::new(Tables::new(Arc::new(store.clone()), clock));
    let admin = Caller::AdminKey;
    let def: TableDef = serde_json::from_value(json!({"fields": [
        {"name": "status", "type": "string", "index": true},
        {"name": "score", "type": "integer", "index": true},
        {"name": "title", "type": "string"},
        {"name": "body", "type": "text"}
    ], "acl": {"record": "rwd:r:r"}}))?;
    tables.put_schema(&admin, "posts", &def, false).await?;
    let record = |i: usize| {
        json!({"status": format!("s{}", i % 50), "score": (i * 7919) % 1000, "title": format!("post {i}"), "body": "x".repeat(200)})
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    let total = 100_000;
    let writers = 64;
    println!("\n== tables: {total} records, 2 indexes (+ owner), embedded store ==");
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let tables = tables.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (w..total).step_by(writers) {
                let v = tables.create(&Caller::AdminKey, "posts", record(i)).await?;
                ids.push(v["_id"].as_str().unwrap_or_default().to_string());
            }
            Ok::<_, yunqiao_core::Error>(ids)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await??);
    }
    let create = t.elapsed();
    // Baseline: the same records as single puts, no index entries or counters.
    let n_base = 20_000;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n_base).step_by(writers) {
                s.put(Item::new("base", format!("{i:08}"), record(i)), None)
                    .await?;
            }
            Ok::<_, yunqiao_core::store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let base = t.elapsed();
    println!(
        "create, {writers} writers   yunqiao {}   (1 + 3 index entries + 4 counters + version check per transaction)   bare put {}",
        rate(total, create),
        rate(n_base, base)
    );

    let mut rng = rand::thread_rng();
    let reads = 50_000;
    let picks: Vec<&String> = (0..reads)
        .map(|_| &ids[rng.gen_range(0..ids.len())])
        .collect();
    let t = Instant::now();
    for id in &picks {
        tables.get(&admin, "posts", id, &[]).await?;
    }
    let got = t.elapsed();
    let t = Instant::now();
    for _ in 0..reads {
        let k = format!("{:08}", rng.gen_range(0..n_base));
        store.get("base", &k).await?;
    }
    let raw = t.elapsed();
    println!(
        "get by id             yunqiao {}   (schema read + record read + ACL)   bare get {}",
        rate(reads, got),
        rate(reads, raw)
    );

    let queries = 2_000;
    let mut lat = Vec::with_capacity(queries);
    let mut scanned = 0;
    for i in 0..queries {
        let spec: QuerySpec = serde_json::from_value(json!({
            "where": [["status", "eq", format!("s{}", i % 50)]],
            "order": [["_id", "desc"]],
            "limit": 20
        }))?;
        let t = Instant::now();
        let r = tables.query(&admin, "posts", spec).await?;
        lat.push(t.elapsed());
        scanned += r.scanned;
        assert_eq!(r.items.len(), 20);
    }
    lat.sort();
    // Baseline: the bare reads such a query needs — one range of 21 keys and 20 gets.
    let mut base_lat = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let page = store.query(Query::partition("base").limit(21)).await?;
        for it in page.items.iter().take(20) {
            store.get("base", &it.sk).await?;
        }
        base_lat.push(t.elapsed());
    }
    base_lat.sort();
    println!(
        "query eq+order, 20    yunqiao p50 {:.3} ms p99 {:.3} ms, {:.1} rows read per query   bare range+20 gets p50 {:.3} ms p99 {:.3} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        scanned as f64 / queries as f64,
        pct(&base_lat, 0.5),
        pct(&base_lat, 0.99)
    );
    Ok(())
}

async fn http_bench() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut cfg = yunqiao::config::Config::load(None, |_| None)?;
    cfg.addr = "127.0.0.1:0".parse()?;
    cfg.data_dir = dir.path().to_path_buf();
    cfg.admin_key = Some("bench-admin-key-0000000000".into());
    let server = yunqiao::serve::build(&cfg).await?;
    let ours = server.addr.to_string();
    tokio::spawn(async move { axum::serve(server.listener, server.router).await });
    let bare = bare_hyper().await?;
    let conns = 32;
    let dur = Duration::from_secs(3);
    println!(
        "\n== GET /v1/health, {conns} keep-alive connections, {}s each, loopback ==",
        dur.as_secs()
    );
    // Warm both up, then measure alternately.
    load(&ours, "/v1/health", 4, Duration::from_millis(300)).await?;
    load(&bare, "/v1/health", 4, Duration::from_millis(300)).await?;
    let b = load(&bare, "/v1/health", conns, dur).await?;
    let y = load(&ours, "/v1/health", conns, dur).await?;
    for (name, l) in [
        ("yunqiao (axum + layers)", &y),
        ("bare hyper (baseline)", &b),
    ] {
        println!(
            "{name:<24} {}   p50 {:>7.3} ms   p99 {:>7.3} ms",
            rate(l.requests, l.elapsed),
            l.p50.as_secs_f64() * 1e3,
            l.p99.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!(
            "yunqiao bench — {} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        store_bench().await?;
        tables_bench().await?;
        http_bench().await
    })
}
