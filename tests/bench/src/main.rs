//! `make bench`: embedded-store rates and `/v1/health` requests/s, each beside a baseline
//! measured in the same run on the same machine:
//! * store writes and reads beside raw redb doing the same durable commits and reads;
//! * cloud tables (creates with indexes, gets, indexed queries) beside the bare store
//!   operations they are built from; a table that hides records from some readers
//!   (per-owner and per-group index copies, merged reads) beside the same table open to
//!   everyone;
//! * yunqiao's HTTP stack beside a bare hyper server answering the same JSON;
//! * the hot path: get-by-id (anonymous, with a token) and cloud-function calls (a trivial
//!   export, one doing a get) at 64 connections beside a bare hyper server, with the
//!   server's CPU per request; a module's cold start;
//! * live channels: events published to 1,000 WebSocket subscribers of one topic, beside
//!   a bare tokio-tungstenite server forwarding each frame to the same 1,000 sockets;
//! * thumbnails (`YUNQIAO_BENCH=thumbs`): a photo to a 200x200 crop per second, beside the
//!   image crate's own `resize_to_fill` on the same input;
//! * WeChat Pay (`YUNQIAO_BENCH=pay`): notifications verified and recorded per second
//!   through the domain on the embedded store, first-time and duplicates, beside the bare
//!   RSA verify + AES-GCM decrypt of the same notifications;
//! * files (`YUNQIAO_BENCH=files`): a 5 MB upload and download over HTTP beside a plain
//!   copy and read, thumbnails through the API beside the thumbnailer alone, and the
//!   API's share of an upload (sign, complete) beside get-by-id;
//! * export and import (`YUNQIAO_BENCH=dump`): records per second of a 100,000-record
//!   table beside the raw store's transactional puts and scan of the same records.
//!
//! Load comes from in-process clients on 127.0.0.1 (HTTP/1.1 with keep-alive connections,
//! WebSockets); everything stops by itself after a fixed time or a fixed count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::json;
use yunqiao_core::clock::SystemClock;
use yunqiao_core::store::{Attrs, Item, ItemStore, Query};
use yunqiao_local::LocalStore;

mod dump;
mod files;
mod pay;
mod thumbs;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A bench setting from the environment, or its default when unset or not a number.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

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
    load_req(addr, &Req::get(path), conns, dur).await
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

/// A user of the app, as the domain sees one.
fn bench_user(i: usize, groups: &[String]) -> yunqiao_core::auth::Caller {
    yunqiao_core::auth::Caller::User {
        user: std::sync::Arc::new(yunqiao_core::auth::User {
            id: format!("01BENCHUSER{i:015}"),
            openid: format!("o{i}"),
            unionid: None,
            nickname: None,
            avatar_url: None,
            phone: None,
            groups: groups.to_vec(),
            profile: Default::default(),
            created_at: 0,
            updated_at: 0,
            v: 1,
        }),
        session: String::new(),
    }
}

/// What the read rules cost: the same records and queries in a table anyone reads and in
/// one that hides records from other groups (`rwd:r:-`), where every index is kept per
/// owner and per group too and a user's query merges its owner and group ranges.
async fn hidden_tables_bench() -> Result<(), BoxError> {
    use yunqiao_core::auth::Caller;
    use yunqiao_core::tables::{QuerySpec, TableDef, Tables};
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(SystemClock);
    let store = LocalStore::open(&dir.path().join("hidden.redb"), clock.clone())?;
    let tables = Arc::new(Tables::new(Arc::new(store), clock));
    for (name, acl) in [("open_posts", "rwd:r:r"), ("team_posts", "rwd:r:-")] {
        let def: TableDef = serde_json::from_value(json!({"fields": [
            {"name": "status", "type": "string", "index": true},
            {"name": "score", "type": "integer", "index": true},
            {"name": "title", "type": "string"}
        ], "acl": {"record": acl}}))?;
        tables
            .put_schema(&Caller::AdminKey, name, &def, false)
            .await?;
    }
    let users = 64;
    let per_user = 400;
    let groups: Vec<String> = (0..8).map(|g| format!("g{g}")).collect();
    let callers: Vec<Caller> = (0..users)
        .map(|i| bench_user(i, &groups[i % 8..i % 8 + 1]))
        .collect();
    println!(
        "\n== tables that hide records: {} records per table, {users} users in 8 groups, embedded store ==",
        users * per_user
    );
    let mut create_rates = Vec::new();
    for table in ["open_posts", "team_posts"] {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for (i, c) in callers.iter().enumerate() {
            let (tables, c, g) = (tables.clone(), c.clone(), groups[i % 8].clone());
            tasks.push(tokio::spawn(async move {
                for k in 0..per_user {
                    let rec = json!({"status": format!("s{}", k % 10), "score": k, "title": "t", "_group": g});
                    tables
                        .create(&c, table, rec.as_object().cloned().unwrap_or_default())
                        .await?;
                }
                Ok::<_, yunqiao_core::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        create_rates.push(rate(users * per_user, t.elapsed()));
    }
    println!(
        "create, {users} writers   hidden table {}   (3 index copies each: all, owner, group)   open table {}",
        create_rates[1], create_rates[0]
    );
    let queries = 2_000;
    let mut figures = Vec::new();
    for (table, as_user) in [("open_posts", false), ("team_posts", true)] {
        let mut lat = Vec::with_capacity(queries);
        let mut scanned = 0;
        for i in 0..queries {
            let spec: QuerySpec = serde_json::from_value(json!({
                "where": [["status", "eq", format!("s{}", i % 10)]],
                "order": [["_id", "desc"]],
                "limit": 20
            }))?;
            let who = if as_user {
                &callers[i % users]
            } else {
                &Caller::AdminKey
            };
            let t = Instant::now();
            let r = tables.query(who, table, spec).await?;
            lat.push(t.elapsed());
            scanned += r.scanned;
            assert_eq!(r.items.len(), 20);
        }
        lat.sort();
        figures.push((
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            scanned as f64 / queries as f64,
        ));
    }
    println!(
        "query eq+order, 20    a user of the hidden table (owner + group ranges merged) p50 {:.3} ms p99 {:.3} ms, {:.1} rows read   the same query on the open table's index p50 {:.3} ms p99 {:.3} ms, {:.1} rows read",
        figures[1].0, figures[1].1, figures[1].2, figures[0].0, figures[0].1, figures[0].2
    );
    Ok(())
}

/// The server's configuration as `yunqiao serve` reads it with nothing set, on a free
/// loopback port and a temporary data directory.
fn bench_config(data_dir: &std::path::Path) -> Result<yunqiao::config::Config, BoxError> {
    let mut cfg = yunqiao::config::Config::load(None, &yunqiao::config::Env::empty())?;
    cfg.addr = "127.0.0.1:0".parse()?;
    cfg.data_dir = data_dir.to_path_buf();
    Ok(cfg)
}

/// Serves `server` on the current runtime until the task is dropped or aborted.
fn serve_in_background(
    server: yunqiao::serve::Server,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        yunqiao::serve::serve_http(
            server.listener,
            server.router,
            yunqiao::serve::HttpLimits::default(),
            std::future::pending(),
        )
        .await
    })
}

async fn http_bench() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut cfg = bench_config(dir.path())?;
    cfg.admin_key = Some("bench-admin-key-0000000000".into());
    let server = yunqiao::serve::build(&cfg).await?;
    let ours = server.addr.to_string();
    serve_in_background(server);
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

// ---- the hot path: get-by-id and cloud functions over HTTP ------------------------------

/// A `/proc/<pid>/stat` (or task stat) line's name, parent pid and CPU ticks (user +
/// system).
fn proc_stat(path: &std::path::Path) -> Option<(String, String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are 12 and 13 after the state field.
    let tick = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((
        stat[open + 1..close].to_string(),
        rest.get(1)?.to_string(),
        tick(11) + tick(12),
    ))
}

fn ticks(t: u64) -> Duration {
    Duration::from_secs_f64(t as f64 / 100.0) // USER_HZ on Linux
}

/// CPU time of this process's threads whose names start with `prefix` (Linux; zero
/// elsewhere).
fn thread_cpu(prefix: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    ticks(
        tasks
            .flatten()
            .filter_map(|t| proc_stat(&t.path().join("stat")))
            .filter(|(name, _, _)| name.starts_with(prefix))
            .map(|(_, _, t)| t)
            .sum(),
    )
}

/// The server's CPU time: its runtime, its store writer, its function workers.
fn server_cpu() -> Duration {
    thread_cpu("yq-srv") + thread_cpu("yunqiao-store") + children_cpu()
}

/// CPU time of this process's children: the function worker processes.
fn children_cpu() -> Duration {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    ticks(
        dir.flatten()
            .filter_map(|e| proc_stat(&e.path().join("stat")))
            .filter(|(_, ppid, _)| *ppid == me)
            .map(|(_, _, t)| t)
            .sum(),
    )
}

#[derive(Clone)]
struct Req {
    method: hyper::Method,
    path: String,
    token: Option<String>,
    body: Option<Bytes>,
}

impl Req {
    fn get(path: impl Into<String>) -> Req {
        Req {
            method: hyper::Method::GET,
            path: path.into(),
            token: None,
            body: None,
        }
    }

    fn post(path: impl Into<String>, body: serde_json::Value) -> Req {
        Req {
            method: hyper::Method::POST,
            path: path.into(),
            token: None,
            body: Some(Bytes::from(body.to_string())),
        }
    }

    fn with_token(mut self, t: &str) -> Req {
        self.token = Some(t.to_string());
        self
    }
}

/// `conns` keep-alive connections sending `req` for `dur`.
async fn load_req(addr: &str, req: &Req, conns: usize, dur: Duration) -> Result<Load, BoxError> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.to_string();
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut lat = Vec::new();
            while start.elapsed() < dur {
                let mut b = hyper::Request::builder()
                    .method(req.method.clone())
                    .uri(&req.path)
                    .header("host", &addr)
                    .header("content-type", "application/json");
                if let Some(t) = &req.token {
                    b = b.header("authorization", format!("Bearer {t}"));
                }
                let r = b.body(Full::new(req.body.clone().unwrap_or_default()))?;
                let t = Instant::now();
                let resp = send.send_request(r).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                if status != 200 {
                    return Err::<Vec<Duration>, BoxError>(
                        format!(
                            "{} {}: {status} {}",
                            req.method,
                            req.path,
                            String::from_utf8_lossy(&body)
                        )
                        .into(),
                    );
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

/// One request through a fresh connection; the answer's JSON.
async fn once(addr: &str, req: &Req) -> Result<serde_json::Value, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(req.method.clone())
        .uri(&req.path)
        .header("host", addr)
        .header("content-type", "application/json");
    if let Some(t) = &req.token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = send
        .send_request(b.body(Full::new(req.body.clone().unwrap_or_default()))?)
        .await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{} {}: {status} {}",
            req.method,
            req.path,
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

const BENCH_ADMIN_KEY: &str = "bench-admin-key-0000000000";
const BENCH_MODULE: &str = r#"
import { db } from "yunqiao";
export async function noop() { return 1 }
export async function get(id) { return db.table("bench").get(id) }
"#;

/// Get-by-id and cloud functions over HTTP, each beside a bare hyper server answering a
/// small JSON body, at 64 keep-alive connections. The server runs on its own runtime
/// (threads `yq-srv*`, the store's writer `yunqiao-store-w*`, function worker processes),
/// so its CPU time per request is read apart from the load generator's.
async fn api_bench() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut cfg = bench_config(dir.path())?;
    cfg.admin_key = Some(BENCH_ADMIN_KEY.into());
    // One user drives every connection: let it use every worker (by default one caller
    // runs a third of them).
    cfg.functions.per_caller = Some(cfg.functions.workers);
    cfg.functions.per_caller_queued = Some(10_000);
    cfg.functions.per_module = Some(cfg.functions.workers);
    cfg.functions.queue = Some(10_000);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("yq-srv")
        .enable_all()
        .build()?;
    let (ours, bare) = server_rt
        .spawn(async move {
            let server = yunqiao::serve::build(&cfg).await?;
            let ours = server.addr.to_string();
            serve_in_background(server);
            let bare = bare_hyper().await?;
            Ok::<_, BoxError>((ours, bare))
        })
        .await??;
    let admin = BENCH_ADMIN_KEY;
    once(&ours, &Req { method: hyper::Method::PUT, ..Req::post("/v1/tables/bench", json!({"fields": [{"name": "title", "type": "string"}, {"name": "n", "type": "integer"}], "acl": {"record": "rwd:r:r"}})) }.with_token(admin)).await?;
    let mut ids = Vec::new();
    for b in 0..40 {
        let ops: Vec<_> = (0..25)
            .map(|i| json!({"op": "create", "table": "bench", "data": {"title": format!("record {}", b * 25 + i), "n": b * 25 + i}}))
            .collect();
        let r = once(
            &ours,
            &Req::post("/v1/batch", json!({"ops": ops})).with_token(admin),
        )
        .await?;
        for v in r["results"].as_array().cloned().unwrap_or_default() {
            ids.push(v["_id"].as_str().unwrap_or_default().to_string());
        }
    }
    let login = once(
        &ours,
        &Req::post("/v1/auth/login", json!({"code": "mock:bench"})),
    )
    .await?;
    let token = login["token"].as_str().unwrap_or_default().to_string();
    once(
        &ours,
        &Req {
            method: hyper::Method::PUT,
            ..Req::post(
                "/v1/functions/bench",
                json!({"source": BENCH_MODULE, "access": "anyone"}),
            )
        }
        .with_token(admin),
    )
    .await?;
    let id = ids.get(ids.len() / 2).cloned().unwrap_or_default();
    let record = format!("/v1/tables/bench/records/{id}");
    let conns = 64;
    // `YUNQIAO_BENCH_SECS` (default 3) per case; `YUNQIAO_BENCH_CASES=anonymous,token`
    // runs only the cases whose names contain one of those (and the baseline): for
    // profiling one path.
    let dur = Duration::from_secs(env_or("YUNQIAO_BENCH_SECS", 3));
    let wanted = std::env::var("YUNQIAO_BENCH_CASES").unwrap_or_default();
    println!(
        "\n== HTTP hot path: {} records, {conns} keep-alive connections, {}s each, loopback ==",
        ids.len(),
        dur.as_secs()
    );
    let cases: Vec<(&str, String, Req)> = vec![
        ("bare hyper (baseline)", bare.clone(), Req::get("/")),
        (
            "get-by-id, anonymous",
            ours.clone(),
            Req::get(record.clone()),
        ),
        (
            "get-by-id, user token",
            ours.clone(),
            Req::get(record.clone()).with_token(&token),
        ),
        (
            "fn: trivial export",
            ours.clone(),
            Req::post("/v1/fn/bench/noop", json!({"args": []})).with_token(&token),
        ),
        (
            "fn: trivial export, anonymous",
            ours.clone(),
            Req::post("/v1/fn/bench/noop", json!({"args": []})),
        ),
        (
            "fn: export doing db get",
            ours.clone(),
            Req::post("/v1/fn/bench/get", json!({"args": [id]})).with_token(&token),
        ),
    ];
    let mut base_rate = 0.0;
    // The built-in get's CPU per request: what a function call is weighed against.
    let mut get_cpu_us = 0.0;
    for (i, (name, addr, req)) in cases.iter().enumerate() {
        if i > 0
            && !wanted.is_empty()
            && !wanted
                .split(',')
                .any(|w| !w.is_empty() && name.contains(w.trim()))
        {
            continue;
        }
        load_req(addr, req, 4, Duration::from_millis(300)).await?;
        let cpu0 = server_cpu();
        let l = load_req(addr, req, conns, dur).await?;
        let cpu = server_cpu() - cpu0;
        let per_sec = l.requests as f64 / l.elapsed.as_secs_f64();
        if base_rate == 0.0 {
            base_rate = per_sec;
        }
        let cpu_us = cpu.as_secs_f64() * 1e6 / l.requests.max(1) as f64;
        if name.starts_with("get-by-id, user") {
            get_cpu_us = cpu_us;
        }
        let weighed = if name.starts_with("fn:") && get_cpu_us > 0.0 {
            format!("   {:.1}x the get's CPU", cpu_us / get_cpu_us)
        } else {
            String::new()
        };
        println!(
            "{name:<26} {}  ({:.2}x bare)   p50 {:>7.3} ms   p99 {:>7.3} ms   server CPU {:>6.1} µs/req{weighed}",
            rate(l.requests, l.elapsed),
            per_sec / base_rate,
            l.p50.as_secs_f64() * 1e3,
            l.p99.as_secs_f64() * 1e3,
            cpu_us,
        );
    }
    // Cold start: a new module's first call compiles it; a warm call runs it again.
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..5 {
        let m = format!("cold{i}");
        once(
            &ours,
            &Req {
                method: hyper::Method::PUT,
                ..Req::post(
                    format!("/v1/functions/{m}"),
                    json!({"source": BENCH_MODULE, "access": "anyone"}),
                )
            }
            .with_token(admin),
        )
        .await?;
        let call = Req::post(format!("/v1/fn/{m}/noop"), json!({"args": []}));
        let t = Instant::now();
        once(&ours, &call).await?;
        cold.push(t.elapsed());
        let t = Instant::now();
        once(&ours, &call).await?;
        warm.push(t.elapsed());
    }
    cold.sort();
    warm.sort();
    println!(
        "fn cold start (deploy, then first call, new connection): median {:.3} ms; the second call {:.3} ms",
        pct(&cold, 0.5),
        pct(&warm, 0.5)
    );
    server_rt.shutdown_background();
    Ok(())
}

// ---- live channels ---------------------------------------------------------------------

const TOPIC: &str = "bench.room";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The soft open-file limit where the system tells (Linux's `/proc`); `None` elsewhere or
/// when unlimited.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The baseline: a bare tokio-tungstenite server. A socket whose first frame is a
/// subscribe gets an ack and then every frame any other socket sends (a tokio broadcast
/// channel); any other socket is a publisher. Each socket's task ends when it closes.
async fn raw_fanout_server() -> Result<(String, tokio::task::JoinHandle<()>), BoxError> {
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::broadcast::error::RecvError;
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, _) = tokio::sync::broadcast::channel::<Message>(1024);
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let Some(Ok(first)) = ws.next().await else {
                    return;
                };
                if first.to_text().is_ok_and(|t| t.contains("\"subscribe\"")) {
                    let mut rx = tx.subscribe();
                    if ws
                        .send(Message::text(r#"{"type":"ack","id":1}"#))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    loop {
                        tokio::select! {
                            out = rx.recv() => match out {
                                Ok(m) => {
                                    if ws.send(m).await.is_err() {
                                        break;
                                    }
                                }
                                Err(RecvError::Lagged(_)) => continue,
                                Err(RecvError::Closed) => break,
                            },
                            inc = ws.next() => match inc {
                                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                                Some(Ok(_)) => {}
                            },
                        }
                    }
                } else {
                    let mut next = Some(first);
                    while let Some(m) = next {
                        if m.is_close() {
                            break;
                        }
                        if m.is_text() {
                            let _ = tx.send(m);
                        }
                        next = ws.next().await.and_then(Result::ok);
                    }
                }
                let _ = ws.close(None).await;
            });
        }
    });
    Ok((format!("ws://{addr}"), accept))
}

/// One subscriber: connects, subscribes to [`TOPIC`] and waits for the ack, says it is
/// ready, then reports each event's delivery latency (arrival − the publish instant the
/// event carries as `data.t`, in ns since `base`) until told to stop.
async fn subscriber(
    url: String,
    base: Instant,
    gate: Arc<tokio::sync::Semaphore>,
    ready: tokio::sync::mpsc::UnboundedSender<Result<(), String>>,
    got: tokio::sync::mpsc::UnboundedSender<Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::Value;
    use tokio_tungstenite::tungstenite::Message;
    let setup = async {
        // Bounded so 1,000 handshakes do not overflow the listen backlog at once.
        let _permit = gate.acquire().await?;
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await?;
        let sub = json!({"type": "subscribe", "topic": TOPIC, "id": 1});
        ws.send(Message::text(sub.to_string())).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t)?;
                    if v["type"] == "ack" && v["id"] == 1 {
                        return Ok::<Ws, BoxError>(ws);
                    }
                    if v["type"] == "error" {
                        return Err(format!("subscribe refused: {t}").into());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err("closed before the ack".into()),
            }
        }
    };
    let mut ws = match setup.await {
        Ok(ws) => {
            let _ = ready.send(Ok(()));
            ws
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let at = base.elapsed();
                    if let Ok(v) = serde_json::from_str::<Value>(&t)
                        && v["type"] == "event"
                        && let Some(ns) = v["data"]["t"].as_u64()
                    {
                        let _ = got.send(at.saturating_sub(Duration::from_nanos(ns)));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
}

/// How events reach the server.
enum Publisher {
    /// The baseline: a WebSocket client sending the event frame itself.
    Ws(Box<Ws>),
    /// yunqiao: `POST /v1/events/{topic}` with the admin key, on a keep-alive connection
    /// (opened at the first publish, and again if the server closed it while a thousand
    /// subscribers connected: an idle connection is closed after the header timeout).
    Http {
        send: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
        host: String,
        key: String,
    },
}

impl Publisher {
    async fn publish(&mut self, seq: usize, t_ns: u64) -> Result<(), BoxError> {
        use futures_util::SinkExt;
        match self {
            Publisher::Ws(ws) => {
                // The frame yunqiao would send for the same publish.
                let frame = json!({"type": "event", "topic": TOPIC, "data": {"t": t_ns}, "from": null, "seq": seq});
                ws.send(tokio_tungstenite::tungstenite::Message::text(
                    frame.to_string(),
                ))
                .await?;
            }
            Publisher::Http { send, host, key } => {
                let body = json!({"data": {"t": t_ns}}).to_string();
                let req = hyper::Request::post(format!("/v1/events/{TOPIC}"))
                    .header("host", host.as_str())
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))?;
                if send.as_mut().is_none_or(|s| s.is_closed()) {
                    let stream = tokio::net::TcpStream::connect(host.as_str()).await?;
                    stream.set_nodelay(true)?;
                    let (s, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                    tokio::spawn(conn);
                    *send = Some(s);
                }
                let Some(s) = send.as_mut() else {
                    return Err("no connection".into());
                };
                s.ready().await?;
                let resp = s.send_request(req).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                if status != 200 {
                    return Err(format!(
                        "publish: status {status}: {}",
                        String::from_utf8_lossy(&body)
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    async fn close(self) {
        if let Publisher::Ws(mut ws) = self {
            let _ = ws.close(None).await;
        }
    }
}

struct Fanout {
    p50: f64,
    p99: f64,
    deliveries: usize,
    elapsed: Duration,
}

/// Opens `clients` subscribers on `url`, then publishes `warmup + rounds` events one at a
/// time: each publish waits until every subscriber has read the event, so latencies hold
/// no queueing behind earlier events. Each event carries its publish instant; only the
/// last `rounds` count. The subscribers close before this returns.
async fn fanout(
    url: &str,
    clients: usize,
    mut publisher: Publisher,
    warmup: usize,
    rounds: usize,
) -> Result<Fanout, BoxError> {
    let base = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        tasks.push(tokio::spawn(subscriber(
            url.to_string(),
            base,
            gate.clone(),
            ready_tx.clone(),
            got_tx.clone(),
            stop.clone(),
        )));
    }
    drop((ready_tx, got_tx));
    let wait = Duration::from_secs(60);
    let result = async {
        for _ in 0..clients {
            match tokio::time::timeout(wait, ready.recv()).await? {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err::<Fanout, BoxError>(e.into()),
                None => return Err("subscribers gone".into()),
            }
        }
        let mut lat = Vec::with_capacity(clients * rounds);
        let mut start = Instant::now();
        for seq in 0..warmup + rounds {
            if seq == warmup {
                start = Instant::now();
            }
            publisher
                .publish(seq + 1, base.elapsed().as_nanos() as u64)
                .await?;
            for _ in 0..clients {
                let d = tokio::time::timeout(wait, got.recv())
                    .await
                    .map_err(|_| format!("event {seq}: not every subscriber got it in time"))?
                    .ok_or("subscribers gone")?;
                if seq >= warmup {
                    lat.push(d);
                }
            }
        }
        let elapsed = start.elapsed();
        lat.sort();
        Ok(Fanout {
            p50: pct(&lat, 0.50),
            p99: pct(&lat, 0.99),
            deliveries: lat.len(),
            elapsed,
        })
    }
    .await;
    publisher.close().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    result
}

/// Live channels: events published to one topic with 1,000 WebSocket subscribers on
/// 127.0.0.1, one publish at a time, beside a bare tokio-tungstenite fan-out of the same
/// frames to the same number of sockets.
async fn fanout_bench() -> Result<(), BoxError> {
    let want = 1_000;
    // Each subscriber costs two descriptors here (client and server side of the socket).
    let limit = open_file_limit();
    let clients = limit.map_or(want, |l| {
        (l.saturating_sub(200) / 2).clamp(1, want as u64) as usize
    });
    let (warmup, rounds) = (20, 200);
    // The real server, as `yunqiao serve` builds it (embedded store in a temporary
    // directory); subscribers connect with the admin key as their token. Built first so
    // its start-up lines come before the section.
    let dir = tempfile::tempdir()?;
    let mut cfg = bench_config(dir.path())?;
    let key = "bench-admin-key-0000000000".to_string();
    cfg.admin_key = Some(key.clone());
    let server = yunqiao::serve::build(&cfg).await?;
    let addr = server.addr.to_string();
    let shown = if clients == want {
        "1,000".to_string()
    } else {
        clients.to_string()
    };
    println!(
        "\n== live channels: one publish to {shown} WebSocket subscribers (127.0.0.1), {rounds} publishes one at a time =="
    );
    if clients < want {
        println!(
            "   (open-file limit {}: {clients} subscribers instead of {want}; `ulimit -n 4096` for the full run)",
            limit.unwrap_or_default()
        );
    }

    let ours_server = serve_in_background(server);
    // Raw and ours take turns, three times each: this machine's state drifts between
    // runs more than the two differ, so each side's median run is what is compared.
    let mut raws = Vec::new();
    let mut ourses = Vec::new();
    for _ in 0..3 {
        let (raw_url, raw_server) = raw_fanout_server().await?;
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(raw_url.as_str(), None, true).await?;
        let raw = fanout(
            &raw_url,
            clients,
            Publisher::Ws(Box::new(ws)),
            warmup,
            rounds,
        )
        .await;
        raw_server.abort();
        raws.push(raw?);
        let ours = fanout(
            &format!("ws://{addr}/v1/ws?token={key}"),
            clients,
            Publisher::Http {
                send: None,
                host: addr.clone(),
                key: key.clone(),
            },
            warmup,
            rounds,
        )
        .await;
        ourses.push(ours?);
    }
    ours_server.abort();
    let median = |runs: &mut Vec<Fanout>| {
        runs.sort_by(|a, b| a.p99.total_cmp(&b.p99));
        runs.swap_remove(runs.len() / 2)
    };
    let runs: Vec<String> = raws
        .iter()
        .zip(&ourses)
        .map(|(r, o)| format!("{:.2}x", o.p99 / r.p99))
        .collect();
    let (raw, ours) = (median(&mut raws), median(&mut ourses));
    for (name, f) in [
        ("raw tokio-tungstenite fan-out", &raw),
        ("yunqiao topic publish", &ours),
    ] {
        println!(
            "{name:<31} p50 {:>6.2} ms  p99 {:>6.2} ms  {:>8.0} deliveries/s",
            f.p50,
            f.p99,
            f.deliveries as f64 / f.elapsed.as_secs_f64()
        );
    }
    println!(
        "   p99 yunqiao/raw {:.2}x (median runs of three each; run by run {})",
        ours.p99 / raw.p99,
        runs.join(", ")
    );
    println!(
        "   (latency: publish call -> frame read by the subscriber; yunqiao publishes with POST /v1/events/{TOPIC}, the baseline with a WebSocket frame)"
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    yunqiao_quickjs::enter_if_worker();
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
        // `YUNQIAO_BENCH=api,fanout` runs only those parts.
        let only = std::env::var("YUNQIAO_BENCH").unwrap_or_default();
        let on = |name: &str| only.is_empty() || only.split(',').any(|p| p.trim() == name);
        if on("store") {
            store_bench().await?;
        }
        if on("tables") {
            tables_bench().await?;
            hidden_tables_bench().await?;
        }
        if on("http") {
            http_bench().await?;
        }
        if on("api") {
            api_bench().await?;
        }
        if on("fanout") {
            fanout_bench().await?;
        }
        if on("files") {
            let secs = env_or("YUNQIAO_BENCH_SECS", 3);
            files::bench(Duration::from_secs(secs)).await?;
        }
        if on("pay") {
            // `YUNQIAO_BENCH_PAY_ORDERS` (default 2000) notifications of each kind.
            let n = env_or("YUNQIAO_BENCH_PAY_ORDERS", 2000);
            pay::bench(n).await?;
        }
        if on("dump") {
            // `YUNQIAO_BENCH_DUMP_RECORDS` (default 100,000) records in the table.
            let n = env_or("YUNQIAO_BENCH_DUMP_RECORDS", 100_000);
            dump::bench(n).await?;
        }
        if on("thumbs") {
            let secs = env_or("YUNQIAO_BENCH_SECS", 3);
            let wanted = std::env::var("YUNQIAO_BENCH_CASES").unwrap_or_default();
            tokio::task::spawn_blocking(move || thumbs::bench(Duration::from_secs(secs), &wanted))
                .await??;
        }
        Ok(())
    })
}
