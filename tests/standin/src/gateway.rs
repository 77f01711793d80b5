//! API Gateway's HTTP API: a request becomes a payload-format-2.0 event for the function
//! its route names, and the function's answer becomes the response.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::HttpRoute;
use crate::runtime::{Functions, Outcome};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

struct Gateway {
    functions: Arc<Functions>,
    routes: Vec<HttpRoute>,
    domain: String,
}

pub fn router(functions: Arc<Functions>, routes: Vec<HttpRoute>, domain: String) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(Gateway {
        functions,
        routes,
        domain,
    }))
}

fn message(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": msg }).to_string(),
    )
        .into_response()
}

async fn handle(State(g): State<Arc<Gateway>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let best = g
        .routes
        .iter()
        .filter_map(|r| r.matches(&method, &path).map(|(rank, p)| (rank, p, r)))
        .max_by_key(|(rank, _, _)| *rank);
    let Some((_, params, route)) = best else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };

    // Headers: lower-case names, repeated values joined by commas; cookies apart.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (k, v) in &parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if k == "cookie" {
            cookies.extend(v.split("; ").map(str::to_string));
            continue;
        }
        headers
            .entry(k.as_str().to_string())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        query
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let request_id = format!("{:016x}", rand::random::<u64>());
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "standin",
            "domainName": g.domain,
            "domainPrefix": "standin",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route.key(),
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body.is_empty() {
        match std::str::from_utf8(&body) {
            Ok(t) => event["body"] = json!(t),
            Err(_) => {
                event["body"] = json!(B64.encode(&body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    let bytes = serde_json::to_vec(&event).unwrap_or_default();
    match g.functions.invoke(&route.function, bytes).await {
        Outcome::Response(out) => to_response(&out),
        Outcome::Error(e) => {
            eprintln!("standin: {} failed: {e}", route.function);
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// A payload-2.0 function response to HTTP.
fn to_response(out: &Bytes) -> Response {
    let Ok(Value::Object(r)) = serde_json::from_slice::<Value>(out) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let status = r
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match r.get("body").and_then(Value::as_str) {
        Some(b) if r.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            match B64.decode(b) {
                Ok(v) => v,
                Err(_) => {
                    return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                }
            }
        }
        Some(b) => b.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let mut add = |k: &str, v: &str| {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(v)) {
            h.append(k, v);
        }
    };
    let empty = Map::new();
    for (k, v) in r
        .get("headers")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        if let Some(v) = v.as_str() {
            add(k, v);
        }
    }
    for (k, vs) in r
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        for v in vs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            add(k, v);
        }
    }
    for c in r
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        add("set-cookie", c);
    }
    resp
}
