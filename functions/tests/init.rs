//! Every function initializes from its environment alone — no network call before it
//! polls the runtime API — and refuses to start on bad configuration.

use std::path::Path;

const FUNCTIONS: &[&str] = &[
    env!("CARGO_BIN_EXE_yq-auth"),
    env!("CARGO_BIN_EXE_yq-tables"),
    env!("CARGO_BIN_EXE_yq-upload"),
    env!("CARGO_BIN_EXE_yq-wechat"),
    env!("CARGO_BIN_EXE_yq-admin"),
    env!("CARGO_BIN_EXE_yq-ws-connect"),
    env!("CARGO_BIN_EXE_yq-ws-message"),
    env!("CARGO_BIN_EXE_yq-ws-disconnect"),
    env!("CARGO_BIN_EXE_yq-hello"),
    env!("CARGO_BIN_EXE_yq-pay"),
    env!("CARGO_BIN_EXE_yq-pay-notify"),
];

fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    // Endpoints on a closed port: a sandbox that called out during init would fail.
    let mut e: Vec<(String, String)> = [
        ("YUNQIAO_DYNAMODB_TABLE", "t"),
        ("YUNQIAO_DYNAMODB_ENDPOINT", "http://127.0.0.1:9"),
        ("YUNQIAO_WS_ENDPOINT", "http://127.0.0.1:9/live"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("YUNQIAO_ADMIN_KEY", "an-admin-key-of-some-length"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        e.retain(|(ek, _)| ek != k);
        e.push((k.to_string(), v.to_string()));
    }
    e
}

#[tokio::test]
async fn every_function_reaches_the_runtime_api() {
    for f in FUNCTIONS {
        yunqiao_standin::time_to_first_poll(Path::new(f), &env(&[]))
            .await
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[tokio::test]
async fn bad_configuration_stops_the_sandbox() {
    let f = Path::new(env!("CARGO_BIN_EXE_yq-tables"));
    for bad in [
        ("YUNQIAO_ADMIN_KEY", "short"),
        ("YUNQIAO_SESSION_TTL_SECS", "soon"),
        ("YUNQIAO_FUNCTIONS_WORKERS", "256"),
        ("YUNQIAO_SECRETS_JSON", "not json"),
    ] {
        let e = yunqiao_standin::time_to_first_poll(f, &env(&[bad]))
            .await
            .expect_err("bad configuration must stop init");
        assert!(e.to_string().contains("exited during init"), "{bad:?}: {e}");
    }
}

/// The bounds are the configuration's, the same as `yunqiao serve`'s
/// (server/tests/startup.rs): a value out of range stops init with the setting's names,
/// never clamped.
#[test]
fn a_setting_out_of_range_is_refused_by_name() {
    let f = env!("CARGO_BIN_EXE_yq-tables");
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
        let out = std::process::Command::new(f)
            .env_clear()
            .envs(env(&[(var, value)]))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(var) && err.contains(key),
            "{var}={value}: {err}"
        );
    }
}

/// A merchant key that does not read stops the pay functions at init, naming the
/// setting and never quoting the key; so does a pay section missing its keys.
#[test]
fn a_bad_merchant_key_stops_the_pay_functions_without_showing_it() {
    let pay = [
        ("YUNQIAO_WECHAT_APPID", "wx0123456789abcdef"),
        ("YUNQIAO_WECHAT_SECRET", "a-wechat-secret-0000"),
        ("YUNQIAO_PAY_MCHID", "1900000001"),
        ("YUNQIAO_PAY_MERCHANT_SERIAL", "ABC"),
        (
            "YUNQIAO_PAY_MERCHANT_KEY",
            "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END PRIVATE KEY-----\n",
        ),
        ("YUNQIAO_PAY_API_V3_KEY", "0123456789abcdefTOPSECRETAPIV3KY"),
        ("YUNQIAO_PAY_PLATFORM_CERT", "not a certificate"),
        (
            "YUNQIAO_PAY_NOTIFY_URL",
            "https://api.example.com/v1/pay/notify",
        ),
    ];
    for f in [
        env!("CARGO_BIN_EXE_yq-pay"),
        env!("CARGO_BIN_EXE_yq-pay-notify"),
    ] {
        let out = std::process::Command::new(f)
            .env_clear()
            .envs(env(&pay))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{f}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("YUNQIAO_PAY_MERCHANT_KEY"), "{f}: {err}");
        assert!(!err.contains("TOPSECRET"), "{f}: a key shown: {err}");
        let out = std::process::Command::new(f)
            .env_clear()
            .envs(env(&pay[..3]))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{f}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("YUNQIAO_PAY_MERCHANT_SERIAL"), "{f}: {err}");
    }
}
