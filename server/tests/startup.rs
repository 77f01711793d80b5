//! Start-up behaviour of the binary: data directory, admin key file, refusals.

mod common;

use std::process::Command;

fn yunqiao() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yunqiao"));
    c.env_remove("YUNQIAO_ADMIN_KEY")
        .env_remove("YUNQIAO_CONFIG")
        .env("YUNQIAO_LOG", "warn");
    c
}

#[test]
fn refuses_the_mock_on_a_public_address() {
    let tmp = tempfile::tempdir().unwrap();
    let out = yunqiao()
        .args(["serve", "--addr", "0.0.0.0:0", "--data-dir"])
        .arg(tmp.path())
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to serve the built-in WeChat mock")
    );
}

#[test]
fn bad_configuration_exits_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let out = yunqiao()
        .args(["serve", "--data-dir"])
        .arg(tmp.path())
        .current_dir(tmp.path())
        .env("YUNQIAO_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YUNQIAO_ADDR"));
}

/// The bounds are the configuration's, the same as the Lambda functions'
/// (functions/tests/init.rs): a value out of range stops the server with the setting's
/// names, never clamped.
#[test]
fn a_setting_out_of_range_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    for (var, value, key) in [
        ("YUNQIAO_FUNCTIONS_WORKERS", "65", "functions.workers"),
        ("YUNQIAO_CACHE_BOUND_MS", "60001", "cache.bound_ms"),
        ("YUNQIAO_BODY_LIMIT", "10", "body_limit"),
        (
            "YUNQIAO_FUNCTIONS_ALLOW_PRIVATE_HOSTS",
            "maybe",
            "functions.allow_private_hosts",
        ),
    ] {
        let out = yunqiao()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path())
            .current_dir(tmp.path())
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(var) && err.contains(key),
            "{var}={value}: {err}"
        );
    }
}

/// A DynamoDB store that cannot be reached says so in a few lines, not in pages of the
/// SDK's request dumps.
#[test]
fn an_unreachable_dynamodb_is_explained_briefly() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = yunqiao()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .current_dir(tmp.path())
        .env("YUNQIAO_STORE", "dynamodb")
        .env("YUNQIAO_DYNAMODB_TABLE", "nowhere")
        .env(
            "YUNQIAO_DYNAMODB_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read DynamoDB table nowhere"), "{err}");
    assert!(err.contains("does the table exist"), "{err}");
    assert!(err.len() < 600, "{} bytes: {err}", err.len());
}

/// The README's commented-out `admin_key = "replace-me-…"`, pasted as is, is not a key.
#[test]
fn refuses_a_placeholder_admin_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("yunqiao.toml");
    std::fs::write(
        &cfg,
        "admin_key = \"replace-me-with-the-output-of-openssl-rand-hex-32\"\n",
    )
    .unwrap();
    for (how, extra) in [
        (
            "file",
            vec!["--config".to_string(), cfg.display().to_string()],
        ),
        ("env", vec![]),
    ] {
        let mut c = yunqiao();
        c.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path())
            .args(&extra)
            .current_dir(tmp.path());
        if how == "env" {
            c.env("YUNQIAO_ADMIN_KEY", "changeme-changeme-changeme");
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{how}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("placeholder"), "{how}: {err}");
    }
}

#[tokio::test]
async fn creates_the_data_dir_and_a_private_admin_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/data");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_yunqiao"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env_remove("YUNQIAO_ADMIN_KEY")
        .env_remove("YUNQIAO_CONFIG")
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    while let Some(l) = lines.next_line().await.unwrap() {
        if let Some(u) = l.strip_prefix("yunqiao listening on ") {
            base = Some(u.to_string());
            break;
        }
    }
    let base = base.expect("listening");
    let key = std::fs::read_to_string(dir.join("admin.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("admin.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "admin.key is owner-only");
    }
    let api = common::Api::new(&base);
    let r = api
        .call("GET", "/v1/admin/users", Some(key.trim()), None)
        .await;
    assert_eq!(r.status, 200, "the generated key is an admin key");
    // The disk file store: its signing key, owner-only, and its endpoints, mounted.
    let blob_key = std::fs::read_to_string(dir.join("blob.key")).unwrap();
    assert_eq!(blob_key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("blob.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "blob.key is owner-only");
    }
    assert!(dir.join("blobs/objects").is_dir());
    let r = api
        .call("GET", "/v1/blobs/a/b.png?expires=1&sig=00", None, None)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "SIGNATURE_INVALID");
    child.kill().await.unwrap();
}
