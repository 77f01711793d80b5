//! Runs the AWS face (the Lambda functions behind the API Gateway stand-in, on a fresh
//! DynamoDB table of an emulator, an in-process S3 for files, with the WeChat mock) for tests written in other
//! languages: prints one JSON line `{"http_url", "ws_url", "admin_key", "wechat_mock"}`
//! and serves until its standard input closes or it gets SIGINT/SIGTERM.
//!
//! Usage: `lambda-face` with `YUNQIAO_TEST_DYNAMODB_ENDPOINT` set (`make test` sets it);
//! the `yq-*` binaries are looked for beside this one. Extra `YUNQIAO_*` settings for
//! the functions: `YUNQIAO_FACE_ENV="K=V,K=V"`.

use std::path::PathBuf;

use tokio::io::AsyncReadExt;
use yunqiao_standin::{BoxError, FaceConfig, LambdaFace};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let endpoint = std::env::var("YUNQIAO_TEST_DYNAMODB_ENDPOINT").map_err(
        |_| "YUNQIAO_TEST_DYNAMODB_ENDPOINT is not set (run under infra/with-emulators.sh)",
    )?;
    let exe = std::env::current_exe()?;
    let bin_dir = exe.parent().ok_or("no binary directory")?.to_path_buf();
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let admin_key = format!("face-admin-{:032x}", rand::random::<u128>());
    let env = std::env::var("YUNQIAO_FACE_ENV")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let face = LambdaFace::start(FaceConfig {
        dynamodb_endpoint: endpoint,
        table: format!("face-{}", std::process::id()),
        template,
        bin_dir,
        admin_key: admin_key.clone(),
        env,
    })
    .await?;
    println!(
        "{}",
        serde_json::json!({
            "http_url": face.standin.http_url,
            "ws_url": face.standin.ws_url,
            "admin_key": admin_key,
            "wechat_mock": face.wechat_mock,
        })
    );
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = async { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} } => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(face);
    Ok(())
}
