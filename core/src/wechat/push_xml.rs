//! WeChat's XML push format, read into the same JSON object the JSON format gives:
//! `<xml><A><![CDATA[text]]></A><B>12</B><C><D>x</D></C></xml>` →
//! `{"A": "text", "B": 12, "C": {"D": "x"}}`. CDATA is a string; bare text is a number
//! when it is an integer (WeChat writes numbers bare and strings as CDATA), else a
//! string; an element repeated becomes an array. Only what WeChat sends is read:
//! elements, CDATA, text with the five XML entities, whitespace between elements, an
//! optional `<?xml …?>` declaration. No attributes, DTDs, comments or other entities
//! (so no entity expansion), at most [`MAX_DEPTH`] levels.

use serde_json::{Map, Value};

/// Deepest nesting read (WeChat's events have two or three levels).
pub const MAX_DEPTH: usize = 8;

struct Reader<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Option<&'a str> {
        let r = self.rest();
        let n = r
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if n == 0 || n > 64 {
            return None;
        }
        self.pos += n;
        Some(&r[..n])
    }

    /// `<name>` or `<name/>`: the name and whether it closed itself.
    fn open(&mut self) -> Option<(&'a str, bool)> {
        if !self.eat("<") {
            return None;
        }
        let n = self.name()?;
        self.skip_ws();
        if self.eat("/>") {
            return Some((n, true));
        }
        self.eat(">").then_some((n, false))
    }

    fn close(&mut self, name: &str) -> Option<()> {
        (self.eat("</") && self.eat(name) && {
            self.skip_ws();
            self.eat(">")
        })
        .then_some(())
    }

    /// An element's content after its opening tag, through its closing tag.
    fn content(&mut self, name: &str, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.pos;
        self.skip_ws();
        if self.rest().starts_with("<![CDATA[") {
            // One or more sections (`]]>` in a text is split over two).
            let mut text = String::new();
            while self.eat("<![CDATA[") {
                let end = self.rest().find("]]>")?;
                text.push_str(&self.rest()[..end]);
                self.pos += end + 3;
            }
            self.skip_ws();
            self.close(name)?;
            return Some(Value::String(text));
        }
        if self.rest().starts_with("</") {
            self.pos = start;
            let text = self.text()?;
            self.close(name)?;
            return Some(leaf(&text));
        }
        if self.rest().starts_with('<') {
            let map = self.children(depth)?;
            self.close(name)?;
            return Some(Value::Object(map));
        }
        self.pos = start;
        let text = self.text()?;
        self.close(name)?;
        Some(leaf(&text))
    }

    /// Text up to the next `<`, entities decoded.
    fn text(&mut self) -> Option<String> {
        let r = self.rest();
        let end = r.find('<')?;
        self.pos += end;
        unescape(&r[..end])
    }

    /// Child elements until a closing tag.
    fn children(&mut self, depth: usize) -> Option<Map<String, Value>> {
        let mut map = Map::new();
        loop {
            self.skip_ws();
            if self.rest().starts_with("</") {
                return Some(map);
            }
            let (n, closed) = self.open()?;
            let v = if closed {
                Value::String(String::new())
            } else {
                self.content(n, depth + 1)?
            };
            match map.get_mut(n) {
                None => {
                    map.insert(n.to_string(), v);
                }
                Some(Value::Array(a)) => a.push(v),
                Some(prev) => {
                    let first = prev.take();
                    *prev = Value::Array(vec![first, v]);
                }
            }
        }
    }
}

fn leaf(text: &str) -> Value {
    let t = text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let integer = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    match t.parse::<i64>() {
        Ok(n) if integer => Value::from(n),
        _ => Value::String(text.to_string()),
    }
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';')?;
        out.push(match &rest[..=end] {
            "&lt;" => '<',
            "&gt;" => '>',
            "&amp;" => '&',
            "&quot;" => '"',
            "&apos;" => '\'',
            _ => return None,
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The `<xml>` document's fields, or `None` when it is not WeChat's XML.
pub fn parse(body: &[u8]) -> Option<Map<String, Value>> {
    let s = std::str::from_utf8(body).ok()?;
    let mut r = Reader { s, pos: 0 };
    r.skip_ws();
    if r.eat("<?xml") {
        let end = r.rest().find("?>")?;
        r.pos += end + 2;
        r.skip_ws();
    }
    let (root, closed) = r.open()?;
    if root != "xml" || closed {
        return None;
    }
    let map = r.children(1)?;
    r.close("xml")?;
    r.skip_ws();
    r.rest().is_empty().then_some(map)
}

/// The XML WeChat would send for `fields` (the mock's side of [`parse`]): strings as
/// CDATA, numbers bare, objects nested, arrays as repeated elements.
pub fn to_xml(fields: &Map<String, Value>) -> String {
    fn write(out: &mut String, name: &str, v: &Value) {
        match v {
            Value::Array(items) => {
                for i in items {
                    write(out, name, i);
                }
                return;
            }
            _ => out.push_str(&format!("<{name}>")),
        }
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    write(out, k, v);
                }
            }
            Value::String(s) => {
                // `]]>` cannot sit in one CDATA section: split it over two.
                out.push_str("<![CDATA[");
                out.push_str(&s.replace("]]>", "]]]]><![CDATA[>"));
                out.push_str("]]>");
            }
            Value::Null => {}
            other => out.push_str(&other.to_string()),
        }
        out.push_str(&format!("</{name}>"));
    }
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        write(&mut out, k, v);
    }
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_wechat_xml() {
        let x = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n<CreateTime>1409735668</CreateTime>\
                 <MsgId>6054768590064713728</MsgId><Content><![CDATA[a <b> & 12]]></Content>\
                 <result><suggest><![CDATA[risky]]></suggest><label>20002</label></result>\
                 <detail><a>1</a></detail><detail><a>2</a></detail><Empty/><T>x &amp; y</T>\
                 <Z>007</Z><Neg>-3</Neg></xml>";
        let m = parse(x.as_bytes()).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"ToUserName": "gh_1", "CreateTime": 1409735668i64, "MsgId": 6054768590064713728i64,
                   "Content": "a <b> & 12", "result": {"suggest": "risky", "label": 20002},
                   "detail": [{"a": 1}, {"a": 2}], "Empty": "", "T": "x & y", "Z": "007", "Neg": -3})
        );
    }

    #[test]
    fn writes_what_it_reads() {
        let v = json!({"A": "x]]>y", "B": 7, "C": {"D": "d", "E": [1, 2]}});
        let m = v.as_object().unwrap();
        assert_eq!(Value::Object(parse(to_xml(m).as_bytes()).unwrap()), v);
    }

    #[test]
    fn refuses_what_is_not_wechat_xml() {
        for bad in [
            "",
            "{}",
            "<xml>",
            "<xml><A>1</B></xml>",
            "<root><A>1</A></root>",
            "<xml><A>1</A></xml><xml/>",
            "<xml><A x=\"1\">1</A></xml>",
            "<!DOCTYPE x [<!ENTITY e \"x\">]><xml><A>&e;</A></xml>",
            "<xml><A>&e;</A></xml>",
            "<xml><A><![CDATA[x]]></xml>",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad}");
        }
        let deep = format!("<xml>{}x{}</xml>", "<a>".repeat(20), "</a>".repeat(20));
        assert!(parse(deep.as_bytes()).is_none());
        assert!(parse(b"<?xml version=\"1.0\"?>\n<xml><A>1</A></xml>\n").is_some());
    }
}
