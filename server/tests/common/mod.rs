//! Starts the real `yunqiao` binary on 127.0.0.1 with a fresh data directory; the process
//! is killed when the handle drops.
#![allow(dead_code)]

pub mod ws;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// The scan limit on DynamoDB (moto): small, so that tables past it stay small there —
/// moto copies a whole table on every transaction. The embedded face keeps the default.
pub const EMULATOR_SCAN_LIMIT: usize = 50;
const EMULATOR_SCAN_LIMIT_STR: &str = "50";

pub struct Server {
    /// The HTTP API's base URL.
    pub base: String,
    /// The live-channel WebSocket URL (without `?token=`).
    pub ws_url: String,
    /// The WeChat mock's base URL (the server's built-in one, or the Lambda face's).
    pub wechat_mock: String,
    /// The `yunqiao serve` process (none on the Lambda face).
    pub child: Option<Child>,
    pub data_dir: PathBuf,
    /// The Lambda face: functions behind the API Gateway stand-in.
    pub lambda: Option<LambdaFace>,
    /// Rows a query examines, and records an unindexed query may scan, on this face.
    pub scan_limit: usize,
    _tmp: Option<tempfile::TempDir>,
}

pub use yunqiao_standin::LambdaFace;

/// Whether the emulators `make test` starts are here (moto, for the DynamoDB and Lambda
/// faces). Without them a face's tests pass as skipped, and the first says so on the
/// terminal (past the test harness's capture), once per test binary and face.
pub fn emulators_for(face: &str) -> bool {
    use std::io::Write;
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let here = std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINTS")
        .or_else(|_| std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINT"))
        .is_ok_and(|v| !v.is_empty());
    if !here
        && let Ok(mut said) = SAID.lock()
        && !said.iter().any(|f| f == face)
    {
        said.push(face.to_string());
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the {face} face's tests need the emulators `make test` starts (moto server)"
        );
    }
    here
}

/// One of the moto servers `make test` started, in turn, so concurrent tests (and test
/// binaries) spread over them: each serves one request at a time.
fn dynamodb_endpoint() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let all = std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINTS")
        .or_else(|_| std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINT"))
        .unwrap_or_else(|_| {
            panic!(
                "YUNQIAO_TEST_DYNAMODB_ENDPOINT is not set: run `make test`, which starts moto server"
            )
        });
    let list: Vec<&str> = all.split(',').filter(|e| !e.is_empty()).collect();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + std::process::id() as usize;
    list[n % list.len()].to_string()
}

fn fresh_table(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Where cargo put the Lambda functions' binaries: next to this test's own directory
/// (`target/<profile>/deps/..`). `cargo test --workspace` builds them.
fn lambda_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf()
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// The local server on the embedded store, with extra environment.
    pub async fn start_with(env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, env).await;
        s._tmp = Some(tmp);
        s
    }

    /// The AWS face: the Lambda functions (real processes on the Lambda runtime API),
    /// routed as `template.yaml` routes them by the API Gateway stand-in, on DynamoDB
    /// (moto) in a fresh table, with the WeChat mock.
    pub async fn start_lambda() -> Server {
        Server::start_lambda_with(&[]).await
    }

    /// The AWS face with extra environment for every function.
    pub async fn start_lambda_with(extra: &[(&str, &str)]) -> Server {
        let mut env = vec![(
            "YUNQIAO_TABLES_SCAN_LIMIT".to_string(),
            EMULATOR_SCAN_LIMIT_STR.to_string(),
        )];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let face = yunqiao_standin::LambdaFace::start(yunqiao_standin::FaceConfig {
            dynamodb_endpoint: dynamodb_endpoint(),
            table: fresh_table("lambda"),
            template: Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
            bin_dir: lambda_bin_dir(),
            admin_key: ADMIN_KEY.into(),
            env,
        })
        .await
        .expect("start the Lambda face");
        Server {
            base: face.standin.http_url.clone(),
            ws_url: face.standin.ws_url.clone(),
            wechat_mock: face.wechat_mock.clone(),
            child: None,
            data_dir: PathBuf::new(),
            lambda: Some(face),
            scan_limit: EMULATOR_SCAN_LIMIT,
            _tmp: None,
        }
    }

    /// The same server on DynamoDB (moto, started by `make test`), in a fresh table.
    pub async fn start_dynamodb() -> Server {
        Server::start_dynamodb_with(&[]).await
    }

    /// The server on DynamoDB with extra environment.
    pub async fn start_dynamodb_with(extra: &[(&str, &str)]) -> Server {
        let endpoint = dynamodb_endpoint();
        let table = fresh_table("accept");
        Server::start_on_table(&endpoint, &table, extra).await
    }

    /// Another server process on an existing DynamoDB table (two processes, one store).
    pub async fn start_on_table(endpoint: &str, table: &str, extra: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut env = vec![
            ("YUNQIAO_STORE", "dynamodb"),
            ("YUNQIAO_DYNAMODB_ENDPOINT", endpoint),
            ("YUNQIAO_DYNAMODB_TABLE", table),
            ("YUNQIAO_DYNAMODB_CREATE_TABLE", "1"),
            ("YUNQIAO_TABLES_SCAN_LIMIT", EMULATOR_SCAN_LIMIT_STR),
        ];
        env.extend_from_slice(extra);
        let mut s = Server::start_in(&dir, &env).await;
        s._tmp = Some(tmp);
        s
    }

    /// A new DynamoDB endpoint and table name, for tests that start several servers.
    pub fn fresh_dynamodb() -> (String, String) {
        (dynamodb_endpoint(), fresh_table("shared"))
    }

    pub async fn start_in(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_yunqiao"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("YUNQIAO_ADMIN_KEY", ADMIN_KEY)
            .env("YUNQIAO_LOG", "warn")
            .env_remove("YUNQIAO_CONFIG")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start yunqiao");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("yunqiao listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("yunqiao exited before listening");
        })
        .await
        .expect("yunqiao did not start in 30 s");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            ws_url: format!("{}/v1/ws", base.replacen("http://", "ws://", 1)),
            wechat_mock: format!("{base}/__mock/wechat"),
            base,
            child: Some(child),
            data_dir: dir.to_path_buf(),
            lambda: None,
            scan_limit: env
                .iter()
                .find(|(k, _)| *k == "YUNQIAO_TABLES_SCAN_LIMIT")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(yunqiao_core::tables::reads::DEFAULT_SCAN_LIMIT),
            _tmp: None,
        }
    }

    /// After a change: at once locally; on the Lambda face another sandbox may hold
    /// what changed for the caches' bound (`Freshness::SHARED`), so wait it out.
    pub async fn settle(&self) {
        if self.lambda.is_some()
            && let yunqiao_core::cache::Freshness::Bounded(ms) =
                yunqiao_core::cache::Freshness::SHARED
        {
            tokio::time::sleep(Duration::from_millis(ms as u64 + 50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Whether the face's blob store holds an object under `key`: the disk store's file
    /// (`objects/<hh>/<sha256 of the key>`), or the Lambda face's S3 object.
    pub fn has_blob(&self, key: &str) -> bool {
        if let Some(face) = &self.lambda {
            return face.s3.has_object(key);
        }
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
        self.data_dir
            .join("blobs/objects")
            .join(&hash[..2])
            .join(&hash)
            .is_file()
    }

    /// `GET` the face's WeChat mock at `path` (`/mock/…`): its JSON answer.
    pub async fn mock_get(&self, path: &str) -> Value {
        let r = reqwest::get(format!("{}{path}", self.wechat_mock))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// `POST` JSON to the face's WeChat mock at `path`: its status and its JSON answer
    /// (`null` when it has none).
    pub async fn mock_post(&self, path: &str, body: Value) -> (u16, Value) {
        let a = Answer::from(
            reqwest::Client::new()
                .post(format!("{}{path}", self.wechat_mock))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        (a.status, a.body)
    }

    /// The same, for the mock routes that always answer 200: the JSON answer.
    pub async fn mock_post_ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.mock_post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }

    /// Logs in through the face's WeChat mock as whoever has `openid` (no unionid).
    pub async fn login_as(&self, openid: &str) -> (String, Value) {
        let code = self
            .mock_post_ok(
                "/mock/login-code",
                serde_json::json!({ "openid": openid, "unionid": false }),
            )
            .await;
        Api::new(&self.base)
            .login(code["code"].as_str().unwrap())
            .await
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill9(&mut self) {
        let child = self.child.as_mut().expect("a local server");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
}

/// A small JSON client for the API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Answer::from(req.send().await.expect("request")).await
    }

    /// Creates records through batches of `per_batch` as `token`; their ids, in order.
    pub async fn create_many(
        &self,
        token: &str,
        table: &str,
        rows: &[Value],
        per_batch: usize,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in rows.chunks(per_batch) {
            let ops: Vec<Value> = chunk
                .iter()
                .map(|d| serde_json::json!({"op": "create", "table": table, "data": d}))
                .collect();
            let r = self
                .call(
                    "POST",
                    "/v1/batch",
                    Some(token),
                    Some(serde_json::json!({ "ops": ops })),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            for x in r.body["results"].as_array().unwrap() {
                out.push(x["_id"].as_str().unwrap().to_string());
            }
        }
        out
    }

    /// Sets a user's groups with the admin key.
    pub async fn set_groups(&self, user: &Value, groups: &[&str]) {
        let path = format!("/v1/admin/users/{}", user["id"].as_str().unwrap());
        let r = self
            .call(
                "PATCH",
                &path,
                Some(ADMIN_KEY),
                Some(serde_json::json!({ "groups": groups })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// `PUT /v1/functions/{module}` as the admin: the answer, whatever it is.
    pub async fn deploy(&self, module: &str, body: Value) -> Answer {
        self.call(
            "PUT",
            &format!("/v1/functions/{module}"),
            Some(ADMIN_KEY),
            Some(body),
        )
        .await
    }

    /// `POST /v1/fn/{module}/{export}` with `args`, as `token`'s caller.
    pub async fn call_fn(
        &self,
        token: Option<&str>,
        module: &str,
        export: &str,
        args: Value,
    ) -> Answer {
        self.call(
            "POST",
            &format!("/v1/fn/{module}/{export}"),
            token,
            Some(serde_json::json!({ "args": args })),
        )
        .await
    }

    pub async fn login(&self, code: &str) -> (String, Value) {
        let a = self
            .call(
                "POST",
                "/v1/auth/login",
                None,
                Some(serde_json::json!({ "code": code })),
            )
            .await;
        assert_eq!(a.status, 200, "login {code}: {}", a.text);
        (
            a.body["token"].as_str().unwrap().to_string(),
            a.body["user"].clone(),
        )
    }
}

impl Answer {
    pub async fn from(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            text,
            headers,
        }
    }
}

/// Runs each `async fn name(s: Server)` of the file on every face: `yunqiao serve` on the
/// embedded store, `yunqiao serve` on DynamoDB, and the Lambda functions behind API
/// Gateway (stand-in) on DynamoDB — the same acceptance tests for all.
///
/// `on_every_face!(env = &[("YUNQIAO_…", "…")]; a, b)` gives every face that
/// environment too.
#[macro_export]
macro_rules! on_every_face {
    (env = $env:expr; $($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Server::start_with($env).await).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::common::emulators_for("DynamoDB") {
                        return;
                    }
                    super::$name($crate::common::Server::start_dynamodb_with($env).await).await
                }
            )*
        }
        mod lambda {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::common::emulators_for("Lambda") {
                        return;
                    }
                    super::$name($crate::common::Server::start_lambda_with($env).await).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Server::start().await).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::common::emulators_for("DynamoDB") {
                        return;
                    }
                    super::$name($crate::common::Server::start_dynamodb().await).await
                }
            )*
        }
        mod lambda {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::common::emulators_for("Lambda") {
                        return;
                    }
                    super::$name($crate::common::Server::start_lambda().await).await
                }
            )*
        }
    };
}
