//! QR codes (issue 23, item 2), on every face: `POST /v1/qrcode` and the functions'
//! `wechat.qrcode` ask WeChat (the mock, which draws a real QR code) once per
//! parameters, keep the image as a public file that decodes back to the scene, map
//! WeChat's refusals to stable codes, and refuse users unless the configuration allows.

mod common;

use common::{ADMIN_KEY, Answer, Api, Server};
use serde_json::{Value, json};

on_every_face!(
    a_qr_code_round_trips_and_is_made_once,
    bad_scenes_and_pages_are_refused_with_stable_codes,
    only_admins_and_functions_may_ask,
    functions_make_qr_codes,
);

mod users_allowed {
    use super::*;
    const USERS: &[(&str, &str)] = &[("YUNQIAO_WECHAT_QRCODE_USERS", "true")];
    on_every_face!(env = super::USERS; users_may_ask_where_allowed);
}

async fn qrcode_calls(s: &Server) -> u64 {
    let v = s.mock_get("/mock/stats").await;
    v["qrcode_calls"].as_u64().unwrap()
}

async fn ask(api: &Api, token: Option<&str>, body: Value) -> Answer {
    api.call("POST", "/v1/qrcode", token, Some(body)).await
}

/// The image behind a QR code's stable URL, fetched as `<image src>` would (no token,
/// following the redirect), decoded as a phone's camera would.
async fn scan(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let bytes = r.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    // Over white: a transparent background reads as paper.
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            let p = rgba.get_pixel(x as u32, y as u32).0;
            let l = (p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000;
            let a = p[3] as u32;
            ((l * a + 255 * (255 - a)) / 255) as u8
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

async fn a_qr_code_round_trips_and_is_made_once(s: Server) {
    let api = Api::new(&s.base);
    let body = json!({"scene": "room=42&by=a", "page": "pages/room/room", "width": 280});
    // Concurrent first requests (several Lambda sandboxes on that face): one WeChat call.
    let answers =
        futures_util::future::join_all((0..6).map(|_| ask(&api, Some(ADMIN_KEY), body.clone())))
            .await;
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let id = answers[0].body["id"].as_str().unwrap().to_string();
    for r in &answers {
        assert_eq!(r.body["id"], id.as_str(), "the same file");
    }
    assert_eq!(qrcode_calls(&s).await, 1, "one WeChat call");
    let a = &answers[0].body;
    assert_eq!(a["path"], format!("/v1/files/{id}/content"));
    assert!(
        a["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1/files/{id}/content"))
    );
    assert_eq!(
        a["content_type"], "image/png",
        "sniffed, not WeChat's label"
    );
    // The stored image decodes back to the scene, for anyone (a public file).
    assert_eq!(
        scan(&format!("{}{}", s.base, a["path"].as_str().unwrap())).await,
        "room=42&by=a"
    );
    let f = api
        .call("GET", &format!("/v1/files/{id}"), None, None)
        .await;
    assert_eq!(
        (f.status, &f.body["public"]),
        (200, &json!(true)),
        "{}",
        f.text
    );

    // The same parameters (defaults spelled out): the same file, no second call.
    let again = ask(
        &api,
        Some(ADMIN_KEY),
        json!({"scene": "room=42&by=a", "page": "pages/room/room", "width": 280,
               "env_version": "release", "check_path": true}),
    )
    .await;
    assert_eq!(
        (again.status, &again.body["id"]),
        (200, &json!(id)),
        "{}",
        again.text
    );
    assert_eq!(again.body["reused"], true);
    assert_eq!(qrcode_calls(&s).await, 1);

    // Other parameters: another QR code, with its own scene and colours.
    let other = ask(
        &api,
        Some(ADMIN_KEY),
        json!({"scene": "room=43", "line_color": {"r": 10, "g": 60, "b": 140}, "is_hyaline": true}),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_ne!(other.body["id"], json!(id));
    assert_eq!(qrcode_calls(&s).await, 2);
    assert_eq!(scan(other.body["url"].as_str().unwrap()).await, "room=43");

    // The admin deletes the file: the next request makes it again.
    let d = api
        .call("DELETE", &format!("/v1/files/{id}"), Some(ADMIN_KEY), None)
        .await;
    assert_eq!(d.status, 204, "{}", d.text);
    let remade = ask(&api, Some(ADMIN_KEY), body).await;
    assert_eq!(remade.status, 200, "{}", remade.text);
    assert_ne!(remade.body["id"], json!(id));
    assert_eq!(qrcode_calls(&s).await, 3);
    assert_eq!(
        scan(remade.body["url"].as_str().unwrap()).await,
        "room=42&by=a"
    );
}

async fn bad_scenes_and_pages_are_refused_with_stable_codes(s: Server) {
    let api = Api::new(&s.base);
    for (body, status, code, field) in [
        (json!({"scene": ""}), 400, "QRCODE_SCENE_INVALID", "scene"),
        (
            json!({"scene": "a".repeat(33)}),
            400,
            "QRCODE_SCENE_INVALID",
            "scene",
        ),
        (
            json!({"scene": "room 1"}),
            400,
            "QRCODE_SCENE_INVALID",
            "scene",
        ),
        (
            json!({"scene": "100%"}),
            400,
            "QRCODE_SCENE_INVALID",
            "scene",
        ),
        (
            json!({"scene": "房间"}),
            400,
            "QRCODE_SCENE_INVALID",
            "scene",
        ),
        (
            json!({"scene": "x", "page": "/pages/a/a"}),
            400,
            "QRCODE_PAGE_INVALID",
            "page",
        ),
        (
            json!({"scene": "x", "page": "pages/a/a?x=1"}),
            400,
            "QRCODE_PAGE_INVALID",
            "page",
        ),
        (
            json!({"scene": "x", "width": 279}),
            400,
            "INVALID_ARGUMENT",
            "width",
        ),
        (
            json!({"scene": "x", "width": 1281}),
            400,
            "INVALID_ARGUMENT",
            "width",
        ),
        (
            json!({"scene": "x", "env_version": "beta"}),
            400,
            "INVALID_ARGUMENT",
            "env_version",
        ),
        // Locally fine, refused by WeChat (41030): not a page of the released app.
        (
            json!({"scene": "x", "page": "pages/missing/missing"}),
            400,
            "QRCODE_PAGE_INVALID",
            "page",
        ),
    ] {
        let r = ask(&api, Some(ADMIN_KEY), body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{body}");
        // Refused here, before WeChat was asked (only its refusals carry its errcode).
        let asked = body["page"] == "pages/missing/missing";
        let errcode = &r.body["error"]["details"]["wechat_errcode"];
        assert_eq!(!errcode.is_null(), asked, "{body}: {}", r.text);
    }
    let r = ask(
        &api,
        Some(ADMIN_KEY),
        json!({"scene": "x", "page": "pages/missing/missing"}),
    )
    .await;
    assert_eq!(
        r.body["error"]["details"]["wechat_errcode"], 41030,
        "{}",
        r.text
    );
    // Not JSON, unknown fields, wrong types: the body's own codes.
    for body in [
        json!({"page": "pages/a/a"}),
        json!({"scene": "x", "colour": "red"}),
        json!({"scene": 42}),
        json!({"scene": "x", "line_color": {"r": 300, "g": 0, "b": 0}}),
    ] {
        let r = ask(&api, Some(ADMIN_KEY), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(qrcode_calls(&s).await, 0, "nothing drawn");
    // Unreleased pages with check_path off are WeChat's to allow.
    let r = ask(
        &api,
        Some(ADMIN_KEY),
        json!({"scene": "x", "page": "pages/missing/missing", "check_path": false, "env_version": "develop"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn only_admins_and_functions_may_ask(s: Server) {
    let api = Api::new(&s.base);
    let r = ask(&api, None, json!({"scene": "x"})).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{}", r.text);
    let (alice, alice_user) = api.login("mock:alice").await;
    let r = ask(&api, Some(&alice), json!({"scene": "x"})).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "{}", r.text);
    assert_eq!(qrcode_calls(&s).await, 0);
    // A user in the admin group is an admin.
    api.set_groups(&alice_user, &["admin"]).await;
    let r = ask(&api, Some(&alice), json!({"scene": "x"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn users_may_ask_where_allowed(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let r = ask(&api, Some(&alice), json!({"scene": "u=1"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(scan(r.body["url"].as_str().unwrap()).await, "u=1");
    let r = ask(&api, None, json!({"scene": "u=1"})).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{}", r.text);
}

const ROOMS: &str = r#"
import { wechat } from "yunqiao";
export async function roomCode(room) {
  return wechat.qrcode({ scene: "r=" + room, page: "pages/room/room", width: 300 });
}
export async function tryCode(args) {
  try { return await wechat.qrcode(args) } catch (e) { return { code: e.code, status: e.status } }
}
"#;

async fn functions_make_qr_codes(s: Server) {
    let api = Api::new(&s.base);
    let r = api
        .call(
            "PUT",
            "/v1/functions/rooms",
            Some(ADMIN_KEY),
            Some(json!({ "source": ROOMS, "access": "anyone" })),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    // Any caller of the function: the function asks, not the caller.
    let (alice, _) = api.login("mock:alice").await;
    let call = |token: Option<String>, export: &'static str, args: Value| {
        let api = api.clone();
        async move {
            api.call(
                "POST",
                &format!("/v1/fn/rooms/{export}"),
                token.as_deref(),
                Some(json!({ "args": args })),
            )
            .await
        }
    };
    let r = call(Some(alice.clone()), "roomCode", json!(["7"])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let q = &r.body["result"];
    let id = q["id"].as_str().unwrap();
    assert_eq!(q["path"], format!("/v1/files/{id}/content"));
    assert_eq!(q["reused"], false);
    assert_eq!(
        scan(&format!("{}{}", s.base, q["path"].as_str().unwrap())).await,
        "r=7"
    );
    // Again, anonymously: the same file, no second call; and HTTP finds it too.
    let r = call(None, "roomCode", json!(["7"])).await;
    assert_eq!(
        (&r.body["result"]["id"], &r.body["result"]["reused"]),
        (&json!(id), &json!(true)),
        "{}",
        r.text
    );
    let h = ask(
        &api,
        Some(ADMIN_KEY),
        json!({"scene": "r=7", "page": "pages/room/room", "width": 300}),
    )
    .await;
    assert_eq!(h.body["id"], json!(id), "{}", h.text);
    assert_eq!(qrcode_calls(&s).await, 1);
    // Refusals reach the function as the same stable codes.
    let r = call(None, "tryCode", json!([{"scene": "a b"}])).await;
    assert_eq!(
        r.body["result"],
        json!({"code": "QRCODE_SCENE_INVALID", "status": 400}),
        "{}",
        r.text
    );
    let r = call(
        None,
        "tryCode",
        json!([{"scene": "x", "page": "pages/missing/x"}]),
    )
    .await;
    assert_eq!(
        r.body["result"],
        json!({"code": "QRCODE_PAGE_INVALID", "status": 400}),
        "{}",
        r.text
    );
    // Wrong types too (the module passes WeChat's parameters on, by name).
    let r = call(None, "tryCode", json!([{"scene": "x", "width": "wide"}])).await;
    assert_eq!(r.body["result"]["status"], 400, "{}", r.text);
    assert_eq!(qrcode_calls(&s).await, 1, "nothing more drawn");
}
