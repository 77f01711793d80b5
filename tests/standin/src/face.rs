//! The whole AWS face on this machine: the Lambda functions of `template.yaml`, as real
//! processes behind the API Gateway stand-in, over DynamoDB (an emulator, in a fresh
//! table), S3 (s3s-fs in-process, a fresh bucket, signatures checked) and the WeChat
//! mock. The Rust acceptance tests and the SDK's tests (through
//! the `lambda-face` binary) use the same one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{BoxError, FunctionSpec, S3Server, Standin, StandinConfig, Template};

/// The credentials every function gets (moto takes any; the S3 server only these).
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";
/// Variables given per function as template.yaml says (but the mock's address,
/// [`WECHAT_API_BASE`], which stands for WeChat's own on every function).
const WECHAT_VARS: &str = "YUNQIAO_WECHAT_";
const WECHAT_API_BASE: &str = "YUNQIAO_WECHAT_API_BASE";
const BUCKET: &str = "yunqiao-face";

/// What a face needs from outside.
#[derive(Debug, Clone)]
pub struct FaceConfig {
    /// A DynamoDB endpoint (moto).
    pub dynamodb_endpoint: String,
    /// The new table's name.
    pub table: String,
    /// `template.yaml`.
    pub template: PathBuf,
    /// Where the `yq-*` binaries are.
    pub bin_dir: PathBuf,
    pub admin_key: String,
    /// Extra environment for every function (e.g. `YUNQIAO_TABLES_SCAN_LIMIT`).
    pub env: Vec<(String, String)>,
}

/// A running face; dropping it stops everything.
pub struct LambdaFace {
    pub standin: Standin,
    pub table: String,
    pub dynamodb_endpoint: String,
    /// The WeChat mock's base URL.
    pub wechat_mock: String,
    /// The functions EventBridge schedules invoke.
    pub scheduled: Vec<String>,
    /// The functions' bucket.
    pub s3: S3Server,
    mock_task: tokio::task::JoinHandle<()>,
}

impl Drop for LambdaFace {
    fn drop(&mut self) {
        self.mock_task.abort();
    }
}

impl LambdaFace {
    pub async fn start(cfg: FaceConfig) -> Result<LambdaFace, BoxError> {
        let clock: yunqiao_core::clock::SharedClock = Arc::new(yunqiao_core::clock::SystemClock);
        let store = yunqiao_aws::DynamoStore::connect(
            &yunqiao_aws::DynamoConfig {
                table: cfg.table.clone(),
                region: "us-east-1".into(),
                endpoint: Some(cfg.dynamodb_endpoint.clone()),
            },
            clock.clone(),
        )
        .await;
        store
            .create_table_if_missing()
            .await
            .map_err(|e| format!("create table {}: {e}", cfg.table))?;

        let appid = "wx00000000standin".to_string();
        let secret = format!("{:032x}", rand::random::<u128>());
        let mock = yunqiao_wechat::WeChatMock::new(
            yunqiao_wechat::MockConfig {
                appid: appid.clone(),
                secret: secret.clone(),
                unionid: true,
            },
            clock,
        );
        let pay = mock.pay_setup();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let wechat_mock = format!("http://{}", listener.local_addr()?);
        let router = mock.router();
        let mock_task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let s3 = S3Server::start(ACCESS_KEY, SECRET_KEY, BUCKET).await?;
        let template = Template::load(&cfg.template)?;
        let mut env: Vec<(String, String)> = [
            ("YUNQIAO_DYNAMODB_TABLE", cfg.table.as_str()),
            ("YUNQIAO_DYNAMODB_ENDPOINT", cfg.dynamodb_endpoint.as_str()),
            ("YUNQIAO_BUCKET", BUCKET),
            ("YUNQIAO_S3_ENDPOINT", s3.endpoint.as_str()),
            ("YUNQIAO_S3_PATH_STYLE", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("YUNQIAO_ADMIN_KEY", cfg.admin_key.as_str()),
            ("YUNQIAO_WECHAT_APPID", appid.as_str()),
            ("YUNQIAO_WECHAT_SECRET", secret.as_str()),
            ("YUNQIAO_WECHAT_API_BASE", wechat_mock.as_str()),
            ("YUNQIAO_WS_ENDPOINT", "{ws_management_url}"),
            ("YUNQIAO_WS_URL", "{ws_url}"),
            // WeChat Pay through the mock, notifications to the stand-in's API.
            ("YUNQIAO_PAY_MCHID", pay.mchid.as_str()),
            ("YUNQIAO_PAY_MERCHANT_SERIAL", pay.merchant_serial.as_str()),
            ("YUNQIAO_PAY_MERCHANT_KEY", pay.merchant_key_pem.as_str()),
            ("YUNQIAO_PAY_API_V3_KEY", pay.api_v3_key.as_str()),
            ("YUNQIAO_PAY_PLATFORM_CERT", pay.platform_cert_pem.as_str()),
            ("YUNQIAO_PAY_PUBLIC_KEY_ID", pay.public_key_id.as_str()),
            ("YUNQIAO_PAY_PUBLIC_KEY", pay.public_key_pem.as_str()),
            ("YUNQIAO_PAY_NOTIFY_URL", "{http_url}/v1/pay/notify"),
            ("YUNQIAO_PAY_API_BASE", wechat_mock.as_str()),
            ("YUNQIAO_LOG", "warn"),
            // Tests change a rule in one function and read in another at once: the
            // caches' cross-sandbox bound is tested on its own (server/tests/caches.rs
            // sets it back), not by every test.
            ("YUNQIAO_CACHE_BOUND_MS", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(cfg.env.iter().cloned());
        let mut functions = Vec::new();
        for b in &template.binaries {
            // The WeChat settings (the app secret, the push Token and key) reach only the
            // functions template.yaml gives them to, as on AWS: a function that calls
            // WeChat without them fails here too.
            let env = env
                .iter()
                .filter(|(k, _)| {
                    !k.starts_with(WECHAT_VARS) || k == WECHAT_API_BASE || template.gives(b, k)
                })
                .cloned()
                .collect();
            functions.push(FunctionSpec {
                name: b.clone(),
                exe: function_bin(&cfg.bin_dir, b)?,
                env,
                max_sandboxes: 8,
            });
        }
        let standin = Standin::start(StandinConfig {
            functions,
            http_routes: template.http_routes,
            ws: template.ws_routes,
            ws_stage: "v1".into(),
        })
        .await?;
        // The mock pushes events (media checks' verdicts) to the API's push endpoint
        // with the Token and EncodingAESKey the functions were given.
        let env_of = |k: &str| {
            cfg.env
                .iter()
                .find(|(n, v)| n == k && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        if let Some(token) = env_of("YUNQIAO_WECHAT_PUSH_TOKEN") {
            let secrets = yunqiao_core::wechat::push::PushSecrets::new(
                &token,
                env_of("YUNQIAO_WECHAT_PUSH_AES_KEY").as_deref(),
            )?;
            mock.set_push_target(yunqiao_wechat::PushTarget {
                url: format!("{}/v1/wechat/push", standin.http_url),
                secrets,
                format: yunqiao_core::wechat::push::PushFormat::Json,
            });
        }
        Ok(LambdaFace {
            scheduled: template.schedules.iter().map(|(b, _)| b.clone()).collect(),
            standin,
            s3,
            table: cfg.table,
            dynamodb_endpoint: cfg.dynamodb_endpoint,
            wechat_mock,
            mock_task,
        })
    }
}

impl LambdaFace {
    /// What EventBridge does every minute: invokes each scheduled function with a
    /// scheduled event. Answers what they answered.
    pub async fn fire_schedules(&self) -> Result<Vec<serde_json::Value>, BoxError> {
        let event = serde_json::json!({
            "version": "0", "id": format!("{:032x}", rand::random::<u128>()),
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "region": "us-east-1", "resources": [], "detail": {},
        });
        let mut out = Vec::new();
        for f in &self.scheduled {
            out.push(self.standin.invoke(f, &event).await?);
        }
        Ok(out)
    }
}

fn function_bin(dir: &Path, name: &str) -> Result<PathBuf, BoxError> {
    let p = dir.join(name);
    if !p.exists() {
        return Err(format!(
            "{} is missing: build the functions (cargo build -p yunqiao-lambda) or run make test",
            p.display()
        )
        .into());
    }
    Ok(p)
}
