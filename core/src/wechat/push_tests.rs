//! Fixed vectors: Tencent's own (the sample of its WXBizMsgCrypt message-crypto
//! library, the same scheme for mini-programs' message push: Token `spamtest`, the
//! EncodingAESKey below, app id `wx2c2769f8efd9abc2`), and a JSON `wxa_media_check`
//! event computed once with Python's `hashlib` and `cryptography` (AES-256-CBC, the
//! plaintext laid out and padded to 32 as WeChat's message-push docs say).

use super::*;

/// Tencent's sample: a text message in XML, pushed in safe mode.
mod tencent {
    pub const TOKEN: &str = "spamtest";
    pub const APPID: &str = "wx2c2769f8efd9abc2";
    pub const TS: &str = "1409735669";
    pub const NONCE: &str = "1320562132";
    pub const MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
    pub const ENCRYPTED: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
    pub const PLAIN: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";
}

#[test]
fn tencents_vector_verifies_and_decrypts() {
    use tencent::*;
    assert_eq!(sign(&[TOKEN, TS, NONCE, ENCRYPTED]), MSG_SIGNATURE);
    assert_ne!(sign(&[TOKEN, TS, "1320562133", ENCRYPTED]), MSG_SIGNATURE);
    let (msg, appid) = decrypt(&key(), ENCRYPTED).unwrap();
    assert_eq!(std::str::from_utf8(&msg).unwrap(), PLAIN);
    assert_eq!(appid, APPID);
    // The XML reads into the object a JSON push would give.
    let fields = parse_body(&msg).unwrap();
    assert_eq!(
        Value::Object(fields.clone()),
        json!({"ToUserName": "gh_10f6c3c3ac5a", "FromUserName": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
               "CreateTime": 1409735668, "MsgType": "text", "Content": "abcdteT",
               "MsgId": 6054768590064713728i64})
    );
    assert!(event_id(&Value::Object(fields)).is_some());
}

const TOKEN: &str = "yunqiaoPushToken1";
const TS: &str = "1764748800";
const NONCE: &str = "1320562132";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx0000000000mock";
const RANDOM: &[u8; 16] = b"0123456789abcdef";
const MSG: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1764748800,"MsgType":"event","Event":"wxa_media_check","isrisky":0,"trace_id":"967e945cd8a3e458f3c74dcb886068e9","version":2,"result":{"suggest":"pass","label":100}}"#;
const SIGNATURE: &str = "864ffba3edee8413939bd980fe4e9524f2c2c12a";
const ENCRYPTED: &str = "Q3stYC6hdFzMh9T8HCvyDPQZ5/ZJZQo6zUYijE4ygbx7myBXD1zsywY+vqbJxQZgEs2j98Vgad9lR2Q1qFfncrtgW5cQ/awC+vQ0MT0bFVcv3XUiU6XhEK7hikdXC3qPokMiST5DG7f2toNfYcTsRS8OEgCXP6ny8TJeBTmvqneUJmtktG2zn9qoB/X8zbeZIYecXhoWFqdanFAQ79BZCcIEHXrevaYbKH2EQNeek6Heyu8W3DXYA9HaQjFgVwTrog76+MlHq1BY6Yg8I6afeVz3Kmil92Hx1loHhCmi9IoFJ12xsR5cHOsMbIcreRA495cXvEd3Gr4of9wJq+d+oC4img+UOiFc5n1WHBzGmU6Q/zl5a473N0+yWKjYuQsjMcF2VgswSAbZD1H+ZpaKCr+PrgfT9MTm+1af1DK2Uck=";
const MSG_SIGNATURE: &str = "7900badee437fd787a0af5a820ab8e0cbced35ff";

fn key() -> [u8; 32] {
    parse_aes_key(AES_KEY).unwrap()
}

#[test]
fn signature_matches_the_vector() {
    assert_eq!(sign(&[TOKEN, TS, NONCE]), SIGNATURE);
    // Sorted, so the order given does not matter.
    assert_eq!(sign(&[NONCE, TOKEN, TS]), SIGNATURE);
    assert_eq!(sign(&[TOKEN, TS, NONCE, ENCRYPTED]), MSG_SIGNATURE);
    assert_ne!(sign(&[TOKEN, TS, "1320562133"]), SIGNATURE);
}

#[test]
fn decrypts_the_vector_and_names_the_app() {
    let (msg, appid) = decrypt(&key(), ENCRYPTED).unwrap();
    assert_eq!(std::str::from_utf8(&msg).unwrap(), MSG);
    assert_eq!(appid, APPID);
}

#[test]
fn encrypts_to_the_vector() {
    assert_eq!(encrypt(&key(), RANDOM, MSG.as_bytes(), APPID), ENCRYPTED);
}

#[test]
fn another_key_or_a_changed_ciphertext_is_refused() {
    let other = parse_aes_key("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg").unwrap();
    // Another key gives garbage: bad padding or length, or at least not our message.
    match decrypt(&other, ENCRYPTED) {
        Err(DecryptError::Malformed) => {}
        Ok((msg, appid)) => assert!(msg != MSG.as_bytes() || appid != APPID),
    }
    assert_eq!(decrypt(&key(), "not base64!"), Err(DecryptError::Malformed));
    assert_eq!(decrypt(&key(), "AAAA"), Err(DecryptError::Malformed));
    assert_eq!(decrypt(&key(), ""), Err(DecryptError::Malformed));
    // A whole number of blocks of zeros: padding byte out of range or length past the end.
    let zeros = base64::engine::general_purpose::STANDARD.encode([0u8; 64]);
    assert_eq!(decrypt(&key(), &zeros), Err(DecryptError::Malformed));
}

#[test]
fn keys_and_tokens_are_checked() {
    assert!(parse_aes_key(AES_KEY).is_ok());
    assert!(parse_aes_key(&AES_KEY[..42]).is_err());
    assert!(parse_aes_key(&format!("{}=", &AES_KEY[..42])).is_err());
    assert!(check_token("abc").is_ok());
    assert!(check_token("ab").is_err());
    assert!(check_token("has space").is_err());
    assert!(check_token(&"a".repeat(33)).is_err());
    let s = PushSecrets::new(TOKEN, Some(AES_KEY)).unwrap();
    let shown = format!("{s:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains(AES_KEY),
        "{shown}"
    );
}

#[test]
fn make_push_signs_and_encrypts_as_wechat_does() {
    let s = PushSecrets::new(TOKEN, Some(AES_KEY)).unwrap();
    let event: Value = serde_json::from_str(MSG).unwrap();
    let (q, body) = make_push(
        &s,
        APPID,
        &event,
        1_764_748_800,
        NONCE,
        RANDOM,
        PushFormat::Json,
    );
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("signature"), Some(SIGNATURE));
    let body: Value = serde_json::from_str(&body).unwrap();
    let enc = body["Encrypt"].as_str().unwrap();
    let (msg, appid) = decrypt(&key(), enc).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&msg).unwrap(), event);
    assert_eq!(appid, APPID);
    assert_eq!(
        get("msg_signature"),
        Some(sign(&[TOKEN, TS, NONCE, enc]).as_str())
    );
    // In XML: the same fields, read back.
    let (_, xml) = make_push(
        &s,
        APPID,
        &event,
        1_764_748_800,
        NONCE,
        RANDOM,
        PushFormat::Xml,
    );
    let outer = parse_body(xml.as_bytes()).unwrap();
    let (msg, _) = decrypt(&key(), outer["Encrypt"].as_str().unwrap()).unwrap();
    assert!(msg.starts_with(b"<xml>"));
    assert_eq!(Value::Object(parse_body(&msg).unwrap()), event);
}

#[test]
fn events_are_known_by_msgid_trace_or_sender_and_time() {
    let a = json!({"MsgId": 7, "FromUserName": "o1", "CreateTime": 1});
    let b = json!({"MsgId": "7", "FromUserName": "o2", "CreateTime": 2});
    assert_eq!(event_id(&a), event_id(&b));
    let t = json!({"trace_id": "t1", "FromUserName": "o1", "CreateTime": 1});
    assert_ne!(event_id(&t), event_id(&a));
    let e1 = json!({"FromUserName": "o1", "CreateTime": 1, "Event": "x"});
    let e2 = json!({"FromUserName": "o1", "CreateTime": 1, "Event": "y"});
    assert_ne!(event_id(&e1), event_id(&e2));
    assert_eq!(event_id(&json!({"Event": "x"})), None);
    assert_eq!(
        parse_handler("hooks"),
        Some(("hooks".into(), DEFAULT_EXPORT.into()))
    );
    assert_eq!(
        parse_handler("hooks.onPush"),
        Some(("hooks".into(), "onPush".into()))
    );
    assert_eq!(parse_handler(" "), None);
}
