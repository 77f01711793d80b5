//! Content checks on a table's text fields (`"check": "text"`): before a user's write,
//! each checked field it sets passes WeChat's text check (`msg_sec_check` v2, scene 2,
//! with the writer's openid). A `risky` verdict refuses the write (400 `CONTENT_RISKY`),
//! and so does `review` on a field whose `review` is `refuse` (400
//! `CONTENT_NEEDS_REVIEW`); nothing is written. Every write path comes through here —
//! create, update, batch, and cloud functions' `db.*` — after the before-hooks (so what
//! is checked is what would be written).
//!
//! Who is checked:
//! * users, with their openid (admins in the `admin` group too: they are users);
//! * not the admin key, nor cloud functions writing with `db.admin()`: server code
//!   writing on behalf of no user, trusted as the admin is (a function that writes a
//!   user's text with the admin's rights checks it itself with `wechat.msgSecCheck`);
//! * anonymous callers cannot be checked (WeChat needs an openid): their writes to a
//!   checked field are 401 `UNAUTHENTICATED`.
//!
//! When WeChat cannot answer, the write is refused (`WECHAT_UNAVAILABLE`,
//! `WECHAT_ERROR`): a check that did not happen never lets text through.

use serde_json::{Map, Value, json};

use super::records::Tables;
use super::schema::{ContentCheck, ReviewPolicy, Schema};
use crate::auth::Caller;
use crate::wechat::api::{MAX_CHECK_CHARS, TextCheck};
use crate::{Code, Error, Result};

/// WeChat's scene for users' text in tables: 2, "comment".
const SCENE: u8 = 2;

/// The text a patch or a record sets in a checked field: plain strings only (operators
/// such as `$append` apply to json fields, never to string or text ones).
fn checked_texts<'a>(
    schema: &'a Schema,
    data: &'a Map<String, Value>,
) -> Vec<(&'a str, &'a str, ReviewPolicy)> {
    schema
        .fields
        .iter()
        .filter(|f| f.check == Some(ContentCheck::Text))
        .filter_map(|f| {
            let text = data
                .get(&f.name)?
                .as_str()
                .filter(|t| !t.trim().is_empty())?;
            Some((
                f.name.as_str(),
                text,
                f.review.unwrap_or(ReviewPolicy::Allow),
            ))
        })
        .collect()
}

/// Pieces of at most [`MAX_CHECK_CHARS`] characters: a long text is checked whole.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(MAX_CHECK_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

impl Tables {
    /// Who checks text (the WeChat server API); without it checked fields cannot be
    /// written by users.
    pub fn set_text_checks(&self, wechat: std::sync::Arc<crate::wechat::WxApi>) {
        let _ = self.wechat.set(wechat);
    }

    /// Refuses `data` (a record to create or a patch) when a checked field's text does
    /// not pass.
    pub(super) async fn check_texts(
        &self,
        caller: &Caller,
        schema: &Schema,
        data: &Map<String, Value>,
    ) -> Result<()> {
        let texts = checked_texts(schema, data);
        if texts.is_empty() {
            return Ok(());
        }
        let openid = match caller {
            Caller::AdminKey => return Ok(()),
            Caller::Anonymous => {
                return Err(Error::new(
                    Code::Unauthenticated,
                    "log in to write here: this field's text is checked with WeChat, which needs the writer",
                )
                .with_details(json!({"field": texts[0].0})));
            }
            Caller::User { user, .. } => user.openid.clone(),
        };
        let Some(wechat) = self.wechat.get() else {
            return Err(Error::new(
                Code::WechatUnavailable,
                "text checks are not available on this server",
            ));
        };
        for (field, text, review) in texts {
            for piece in pieces(text) {
                let check = TextCheck {
                    openid: openid.clone(),
                    content: piece,
                    scene: SCENE,
                    ..Default::default()
                };
                let v = wechat.msg_sec_check(&check).await?;
                let details = json!({
                    "field": field, "suggest": v.suggest, "label": v.label, "trace_id": v.trace_id,
                });
                match v.suggest.as_str() {
                    "risky" => {
                        return Err(Error::new(
                            Code::ContentRisky,
                            format!("the text of {field} did not pass WeChat's content check"),
                        )
                        .with_details(details));
                    }
                    "review" if review == ReviewPolicy::Refuse => {
                        return Err(Error::new(
                            Code::ContentNeedsReview,
                            format!("the text of {field} needs a review WeChat's content check asked for"),
                        )
                        .with_details(details));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_checked_in_pieces() {
        let t = "好".repeat(MAX_CHECK_CHARS * 2 + 1);
        let p = pieces(&t);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].chars().count(), MAX_CHECK_CHARS);
        assert_eq!(p[2], "好");
        assert_eq!(pieces("short"), vec!["short".to_string()]);
    }
}
