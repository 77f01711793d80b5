//! Health, the OpenAPI document, unknown routes and request ids.

use crate::support::App;

#[tokio::test]
async fn health_openapi_unknown_routes_and_request_ids() {
    let app = App::embedded();
    let r = app.call("GET", "/v1/health", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ok");
    assert!(
        r.headers.get("x-request-id").is_some(),
        "a request id is made"
    );

    let r = app.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/v1/auth/login",
        "/v1/tables/{table}/query",
        "/v1/batch",
        "/v1/kv/{ns}/{key}",
        "/v1/events/{topic}",
        "/v1/fn/{module}/{export}",
    ] {
        assert!(paths.contains_key(p), "{p} is documented");
    }
    assert_eq!(
        r.body,
        serde_json::to_value(yunqiao_api::openapi()).unwrap(),
        "the document served is the one built"
    );

    let r = app.call("GET", "/v1/nope", None, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = app.call("DELETE", "/v1/health", None, None).await;
    assert_eq!(r.status, 405, "{}", r.text);
    let r = app
        .send(
            "GET",
            "/v1/health",
            None,
            &[("x-request-id", "mine-1")],
            None,
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "mine-1", "a safe id is echoed");
    let r = app
        .send(
            "GET",
            "/v1/health",
            None,
            &[("x-request-id", "bad id!")],
            None,
        )
        .await;
    assert_ne!(
        r.headers["x-request-id"], "bad id!",
        "an unsafe one is replaced"
    );
}
