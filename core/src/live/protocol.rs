//! Client frames of protocol version 1: parsing into [`Request`]s, and the frames the
//! server answers with. The protocol itself is documented in `docs/live-protocol.md`.

use serde_json::{Map, Value, json};

/// Largest frame a client may send, in bytes (API Gateway's own limit is 128 KiB).
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// Longest command name of a direct message.
pub const MAX_CMD_BYTES: usize = 64;
/// Most fields in a table subscription's equality filter.
pub const MAX_FILTER_FIELDS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    User(String),
    Connection(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Ping,
    Pong,
    Hello,
    Send {
        to: Target,
        cmd: String,
        body: Value,
    },
    Subscribe {
        topic: String,
        since: Option<u64>,
        filter: Option<Map<String, Value>>,
        presence: bool,
    },
    Unsubscribe {
        topic: String,
    },
    Publish {
        topic: String,
        data: Value,
    },
    Online {
        topic: Option<String>,
    },
}

/// A frame that could not be read, answered with this error frame.
pub type Refusal = Value;

pub fn error_frame(code: &str, message: &str, id: Option<&Value>) -> Value {
    let mut f = json!({"type": "error", "code": code, "message": message});
    if let Some(id) = id {
        f["id"] = id.clone();
    }
    f
}

/// The request in a client frame and the id to answer it with.
pub fn parse(frame: &[u8]) -> Result<(Option<Value>, Request), Refusal> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(error_frame(
            "FRAME_TOO_LARGE",
            &format!("frames are at most {MAX_FRAME_BYTES} bytes"),
            None,
        ));
    }
    let Ok(Value::Object(mut f)) = serde_json::from_slice::<Value>(frame) else {
        return Err(error_frame(
            "INVALID_FRAME",
            "a frame is one JSON object with a \"type\"",
            None,
        ));
    };
    let id = f
        .remove("id")
        .filter(|v| v.is_number() || v.as_str().is_some_and(|s| s.len() <= 64));
    let bad = |m: &str| error_frame("INVALID_FRAME", m, id.as_ref());
    let string = |f: &mut Map<String, Value>, k: &str| match f.remove(k) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(bad(&format!("\"{k}\" must be a string"))),
    };
    let req = match f.get("type").and_then(Value::as_str) {
        Some("ping") => Request::Ping,
        Some("pong") => Request::Pong,
        Some("hello") => Request::Hello,
        Some("send") => {
            let to = match f.remove("to") {
                Some(Value::Object(mut t)) if t.len() == 1 => {
                    match (t.remove("user"), t.remove("connection")) {
                        (Some(Value::String(u)), None) => Target::User(u),
                        (None, Some(Value::String(c))) => Target::Connection(c),
                        _ => return Err(bad("\"to\" is {\"user\": id} or {\"connection\": id}")),
                    }
                }
                _ => return Err(bad("\"to\" is {\"user\": id} or {\"connection\": id}")),
            };
            let cmd = string(&mut f, "cmd")?;
            if cmd.is_empty() || cmd.len() > MAX_CMD_BYTES {
                return Err(bad(&format!("\"cmd\" is 1 to {MAX_CMD_BYTES} bytes")));
            }
            Request::Send {
                to,
                cmd,
                body: f.remove("body").unwrap_or(Value::Null),
            }
        }
        Some("subscribe") => {
            let topic = string(&mut f, "topic")?;
            let since = match f.remove("since") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .ok_or_else(|| bad("\"since\" is a sequence number (an integer ≥ 0)"))?,
                ),
            };
            let filter = match f.remove("where") {
                None | Some(Value::Null) => None,
                Some(Value::Object(m))
                    if !m.is_empty()
                        && m.len() <= MAX_FILTER_FIELDS
                        && m.values().all(|v| !v.is_object() && !v.is_array()) =>
                {
                    Some(m)
                }
                Some(_) => {
                    return Err(bad(&format!(
                        "\"where\" maps 1 to {MAX_FILTER_FIELDS} fields to plain values"
                    )));
                }
            };
            let presence = match f.remove("presence") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => b,
                Some(_) => return Err(bad("\"presence\" must be true or false")),
            };
            Request::Subscribe {
                topic,
                since,
                filter,
                presence,
            }
        }
        Some("unsubscribe") => Request::Unsubscribe {
            topic: string(&mut f, "topic")?,
        },
        Some("publish") => Request::Publish {
            topic: string(&mut f, "topic")?,
            data: f.remove("data").unwrap_or(Value::Null),
        },
        Some("online") => Request::Online {
            topic: match f.remove("topic") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(t),
                Some(_) => return Err(bad("\"topic\" must be a string")),
            },
        },
        Some(t) => {
            return Err(error_frame(
                "UNKNOWN_FRAME",
                &format!("unknown frame type {t:?}"),
                id.as_ref(),
            ));
        }
        None => return Err(bad("the frame has no \"type\"")),
    };
    Ok((id, req))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(Option<Value>, Request), Refusal>) -> String {
        r.err()
            .map(|f| f["code"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }

    #[test]
    fn frames_parse_or_get_stable_codes() {
        assert_eq!(
            parse(br#"{"type":"ping","id":"7"}"#),
            Ok((Some(json!("7")), Request::Ping))
        );
        assert_eq!(code(parse(b"nope")), "INVALID_FRAME");
        assert_eq!(code(parse(b"[1]")), "INVALID_FRAME");
        assert_eq!(code(parse(br#"{"id":1}"#)), "INVALID_FRAME");
        let u = parse(br#"{"type":"shout","id":3}"#).unwrap_err();
        assert_eq!(
            (u["code"].as_str(), u["id"].as_i64()),
            (Some("UNKNOWN_FRAME"), Some(3))
        );
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        assert_eq!(code(parse(&big)), "FRAME_TOO_LARGE");
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        assert_eq!(
            parse(br#"{"type":"send","to":{"user":"u1"},"cmd":"chat","body":{"t":"hi"}}"#),
            Ok((
                None,
                Request::Send {
                    to: Target::User("u1".into()),
                    cmd: "chat".into(),
                    body: json!({"t":"hi"})
                }
            ))
        );
        for bad in [
            r#"{"type":"send","to":"u1","cmd":"chat"}"#,
            r#"{"type":"send","to":{"user":"u1","connection":"c"},"cmd":"chat"}"#,
            r#"{"type":"send","to":{"user":"u1"},"cmd":""}"#,
            r#"{"type":"subscribe"}"#,
            r#"{"type":"subscribe","topic":"a","since":-1}"#,
            r#"{"type":"subscribe","topic":"a","where":{"x":{"$gt":1}}}"#,
            r#"{"type":"subscribe","topic":"a","where":{}}"#,
            r#"{"type":"subscribe","topic":"a","presence":"yes"}"#,
            r#"{"type":"publish","topic":7}"#,
            r#"{"type":"online","topic":1}"#,
        ] {
            assert_eq!(code(parse(bad.as_bytes())), "INVALID_FRAME", "{bad}");
        }
        assert_eq!(
            parse(br#"{"type":"subscribe","topic":"room.1","since":4,"presence":true,"id":"s"}"#),
            Ok((
                Some(json!("s")),
                Request::Subscribe {
                    topic: "room.1".into(),
                    since: Some(4),
                    filter: None,
                    presence: true
                }
            ))
        );
    }
}
