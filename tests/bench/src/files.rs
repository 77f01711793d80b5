//! Files (`YUNQIAO_BENCH=files`), on the local face over real HTTP (loopback, reqwest),
//! each figure beside a baseline from the same run:
//!
//! * a 5 MB upload (sign, the multipart form posted to `/v1/blobs` as `wx.uploadFile`
//!   posts it, complete) and its download through the signed URL, beside a plain
//!   durable copy of 5 MB on the same disk (read, write, fsync) and a plain read;
//! * thumbnails made through the API (`GET /v1/files/{id}?thumb=200x200`, each file's
//!   first, so each is made), beside the same thumbnails made by `yunqiao-images` alone
//!   on as many threads as the server makes them at once; and a kept thumbnail asked
//!   again (signing only);
//! * the API's share of an upload — `POST /v1/files` (sign) and `.../complete` — in
//!   requests/s, beside `GET /v1/files/{id}` at the same concurrency.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yunqiao_core::files::thumbs::{ImageLimits, ThumbFormat, ThumbSpec, Thumbnailer};

use crate::{BoxError, bench_config, serve_in_background};

const ADMIN: &str = "bench-admin-key-0000000000";
const FIVE_MB: usize = 5 * 1024 * 1024;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BoxError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}").into());
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /v1/files`: the file's id and its form.
    async fn sign(&self, name: &str, size: usize, ct: &str) -> Result<(String, Value), BoxError> {
        let r = self
            .json(
                reqwest::Method::POST,
                "/v1/files",
                Some(json!({"name": name, "size": size, "content_type": ct})),
            )
            .await?;
        let id = r["file"]["id"].as_str().ok_or("no id")?.to_string();
        Ok((id, r["upload"].clone()))
    }

    /// Posts the form as `wx.uploadFile` does: its fields, then the file.
    async fn post_form(&self, upload: &Value, bytes: Vec<u8>) -> Result<(), BoxError> {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in upload["fields"].as_object().ok_or("no fields")? {
            form = form.text(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("f"),
        );
        let r = self
            .http
            .post(upload["url"].as_str().ok_or("no url")?)
            .multipart(form)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(format!("upload: {} {}", r.status(), r.text().await?).into());
        }
        Ok(())
    }

    async fn complete(&self, id: &str) -> Result<Value, BoxError> {
        self.json(
            reqwest::Method::POST,
            &format!("/v1/files/{id}/complete"),
            None,
        )
        .await
    }

    /// Signs, posts and completes; the completed file.
    async fn upload(&self, name: &str, ct: &str, bytes: Vec<u8>) -> Result<Value, BoxError> {
        let (id, form) = self.sign(name, bytes.len(), ct).await?;
        self.post_form(&form, bytes).await?;
        self.complete(&id).await
    }
}

/// `n` tasks each running `f(i)` until `dur` has passed; how many ran, and in how long.
async fn for_a_while<F, Fut>(n: usize, dur: Duration, f: F) -> Result<(usize, Duration), BoxError>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), BoxError>> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..n {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while start.elapsed() < dur {
                f(t * 1_000_000 + done).await?;
                done += 1;
            }
            Ok::<usize, BoxError>(done)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok((total, start.elapsed()))
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

pub async fn bench(dur: Duration) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut cfg = bench_config(dir.path())?;
    cfg.admin_key = Some(ADMIN.into());
    cfg.files.thumb_sizes = vec!["200x200".into()];
    cfg.files.quota_bytes = 1 << 40;
    let server = yunqiao::serve::build(&cfg).await?;
    let base = format!("http://{}", server.addr);
    serve_in_background(server);
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"code": "mock:bench"}))
        .send()
        .await?
        .json()
        .await?;
    let c = Client {
        http,
        base,
        token: login["token"].as_str().ok_or("no token")?.to_string(),
    };

    // -------- 5 MB up and down, beside the file system
    let body: Vec<u8> = (0..FIVE_MB).map(|i| b'a' + (i % 26) as u8).collect();
    let rounds = 10;
    println!("\n== files: a 5 MB file, {rounds} times each, loopback HTTP, the disk store ==");
    c.upload("warm.txt", "text/plain", body.clone()).await?;
    let mut up = Duration::ZERO;
    let mut down = Duration::ZERO;
    for i in 0..rounds {
        let t = Instant::now();
        let done = c
            .upload(&format!("five-{i}.txt"), "text/plain", body.clone())
            .await?;
        up += t.elapsed();
        let url = done["url"].as_str().ok_or("no url")?;
        let t = Instant::now();
        let got = c.http.get(url).send().await?.bytes().await?;
        down += t.elapsed();
        if got.len() != FIVE_MB {
            return Err(format!("downloaded {} bytes", got.len()).into());
        }
    }
    let src = dir.path().join("copy-src");
    std::fs::write(&src, &body)?;
    let mut copy = Duration::ZERO;
    let mut read = Duration::ZERO;
    for i in 0..rounds {
        let t = Instant::now();
        let bytes = std::fs::read(&src)?;
        read += t.elapsed();
        let mut f = std::fs::File::create(dir.path().join(format!("copy-{i}")))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::File::open(dir.path())?.sync_all()?;
        copy += t.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / rounds as f64;
    println!(
        "upload (sign + multipart POST /v1/blobs + complete)   {:>7.1} ms  {:>7.1} MB/s   plain copy (read + write + fsync) {:>6.1} ms  {:>7.1} MB/s",
        per(up),
        mb_per_s(FIVE_MB * rounds, up),
        per(copy),
        mb_per_s(FIVE_MB * rounds, copy)
    );
    println!(
        "download (GET of the signed URL)                      {:>7.1} ms  {:>7.1} MB/s   plain read {:>6.2} ms  {:>7.1} MB/s",
        per(down),
        mb_per_s(FIVE_MB * rounds, down),
        per(read),
        mb_per_s(FIVE_MB * rounds, read)
    );

    // -------- thumbnails through the API, beside the thumbnailer alone
    let photo = yunqiao_images::sample::photo(1600, 1200);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&photo)?;
    let n = 24;
    let mut ids = Vec::new();
    for i in 0..n {
        let f = c
            .upload(&format!("photo-{i}.jpg"), "image/jpeg", jpeg.clone())
            .await?;
        ids.push(f["id"].as_str().ok_or("no id")?.to_string());
    }
    let per_thread = yunqiao_core::files::thumbs::ThumbsConfig::default().max_concurrent;
    println!(
        "\n== thumbnails: {n} photo-like 1600x1200 JPEGs ({} KB) -> 200x200 WebP, 4 connections, the server makes {per_thread} at once ==",
        jpeg.len() / 1024
    );
    let t = Instant::now();
    let mut tasks = Vec::new();
    for chunk in ids.chunks(n / 4) {
        let (chunk, http, base, token) = (
            chunk.to_vec(),
            c.http.clone(),
            c.base.clone(),
            c.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for id in chunk {
                let r = http
                    .get(format!("{base}/v1/files/{id}?thumb=200x200&format=webp"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    return Err::<(), BoxError>(format!("thumb: {}", r.status()).into());
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let api = n as f64 / t.elapsed().as_secs_f64();
    let spec: ThumbSpec = "200x200".parse()?;
    let limits = ImageLimits::default();
    let t = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..per_thread {
        let jpeg = jpeg.clone();
        threads.push(std::thread::spawn(move || {
            let ours = yunqiao_images::ImageThumbnailer::default();
            for _ in 0..n / per_thread {
                ours.make(&jpeg, &spec, ThumbFormat::WebP, &limits)
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for th in threads {
        th.join().map_err(|_| "a thumbnail thread panicked")??;
    }
    let alone = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "made through the API (read from the store, made, stored, signed) {api:>7.1}/s   yunqiao-images alone, {per_thread} threads {alone:>7.1}/s   ({:.2}x)",
        api / alone
    );
    let cached = {
        let (http, base, token, ids) =
            (c.http.clone(), c.base.clone(), c.token.clone(), ids.clone());
        for_a_while(16, dur, move |i| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let id = ids[i % ids.len()].clone();
            async move {
                let r = http
                    .get(format!("{base}/v1/files/{id}?thumb=200x200&format=webp"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                r.bytes().await?;
                Ok(())
            }
        })
        .await?
    };
    println!(
        "a kept thumbnail asked again (head + sign), 16 connections {:>7.0}/s",
        cached.0 as f64 / cached.1.as_secs_f64()
    );

    // -------- the API's share of an upload: sign and complete, beside get-by-id
    let conns = 16;
    println!(
        "\n== the API's share of an upload (13-byte files), {conns} connections, {}s each ==",
        dur.as_secs()
    );
    let signed = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let sign = {
        let (http, base, token, signed) = (
            c.http.clone(),
            c.base.clone(),
            c.token.clone(),
            signed.clone(),
        );
        for_a_while(conns, dur, move |_| {
            let c = Client {
                http: http.clone(),
                base: base.clone(),
                token: token.clone(),
            };
            let signed = signed.clone();
            async move {
                let (id, form) = c.sign("hello.txt", 13, "text/plain").await?;
                signed.lock().await.push((id, form));
                Ok(())
            }
        })
        .await?
    };
    let signed = std::mem::take(&mut *signed.lock().await);
    // The bytes, untimed.
    for chunk in signed.chunks(64) {
        let mut posts = Vec::new();
        for (_, form) in chunk {
            let (c2, form) = (
                Client {
                    http: c.http.clone(),
                    base: c.base.clone(),
                    token: c.token.clone(),
                },
                form.clone(),
            );
            posts.push(tokio::spawn(async move {
                c2.post_form(&form, b"hello, files\n".to_vec()).await
            }));
        }
        for p in posts {
            p.await??;
        }
    }
    let ids: Vec<String> = signed.into_iter().map(|(id, _)| id).collect();
    let total = ids.len();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(ids.clone()));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (queue, c2) = (
            queue.clone(),
            Client {
                http: c.http.clone(),
                base: c.base.clone(),
                token: c.token.clone(),
            },
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| "poisoned")?.pop();
                let Some(id) = next else { break };
                c2.complete(&id).await?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let complete = (total, t.elapsed());
    let get = {
        let (http, base, token) = (c.http.clone(), c.base.clone(), c.token.clone());
        for_a_while(conns, dur, move |i| {
            let c = Client {
                http: http.clone(),
                base: base.clone(),
                token: token.clone(),
            };
            let id = ids[i % ids.len()].clone();
            async move {
                c.json(reqwest::Method::GET, &format!("/v1/files/{id}"), None)
                    .await?;
                Ok(())
            }
        })
        .await?
    };
    let rate = |(n, d): (usize, Duration)| n as f64 / d.as_secs_f64();
    println!(
        "sign (POST /v1/files)           {:>8.0} req/s   GET /v1/files/{{id}} (baseline) {:>8.0} req/s   {:.2}x",
        rate(sign),
        rate(get),
        rate(sign) / rate(get)
    );
    println!(
        "complete (head, sniff, commit)  {:>8.0} req/s   ({} files)                      {:.2}x",
        rate(complete),
        complete.0,
        rate(complete) / rate(get)
    );
    Ok(())
}
