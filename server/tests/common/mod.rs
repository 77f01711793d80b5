//! Starts the real `yunqiao` binary on 127.0.0.1 with a fresh data directory; the process
//! is killed when the handle drops.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

pub struct Server {
    pub base: String,
    pub child: Child,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    pub async fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, &[]).await;
        s._tmp = Some(tmp);
        s
    }

    /// The same server on DynamoDB (moto, started by `make test`), in a fresh table.
    pub async fn start_dynamodb() -> Server {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let endpoint = std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
            panic!(
                "YUNQIAO_TEST_DYNAMODB_ENDPOINT is not set: run `make test`, which starts moto server"
            )
        });
        let table = format!(
            "accept-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(
            &dir,
            &[
                ("YUNQIAO_STORE", "dynamodb"),
                ("YUNQIAO_DYNAMODB_ENDPOINT", &endpoint),
                ("YUNQIAO_DYNAMODB_TABLE", &table),
                ("YUNQIAO_DYNAMODB_CREATE_TABLE", "1"),
            ],
        )
        .await;
        s._tmp = Some(tmp);
        s
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
            base,
            child,
            data_dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill9(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
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

/// Runs each `async fn name(s: Server)` of the file twice: against the embedded store and
/// against DynamoDB — the same acceptance tests for both.
#[macro_export]
macro_rules! on_both_stores {
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
                    super::$name($crate::common::Server::start_dynamodb().await).await
                }
            )*
        }
    };
}
