//! `POST /wxa/getwxacodeunlimit?access_token=`: a real QR code (not WeChat's round
//! "sun code", which only WeChat reads) of the scene, as a PNG `width` pixels wide,
//! labelled `image/jpeg` as WeChat labels its images. Refusals are WeChat's JSON:
//!
//! * 40169 a body that is not JSON, or a scene that is missing, empty, longer than 32
//!   characters or has characters outside `0-9 A-Z a-z !#$&'()*+,/:;=?@-._~`;
//! * 41030 a page with a leading `/` or a query, or — with `check_path` true (the
//!   default) — a page under `pages/missing` (the mock's stand-in for "not a page of the
//!   released mini-program"; `check_path: false` allows it, as WeChat does);
//! * 40097 an `env_version` other than `release`, `trial` or `develop`.
//!
//! `width` is clamped to 280–1280, as WeChat does; `line_color` colours the dark
//! modules (unless `auto_color`) and `is_hyaline` makes the light ones transparent.
//! Every call answered with an image is counted (`/mock/stats` → `qrcode_calls`).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{TokenParam, WeChatMock, authorized, wx_error};

const SCENE_PUNCT: &str = "!#$&'()*+,/:;=?@-._~";
/// Blank modules around the code (the QR standard's quiet zone).
const QUIET: usize = 4;

pub(super) async fn getwxacodeunlimit(
    State(m): State<WeChatMock>,
    Query(t): Query<TokenParam>,
    body: axum::body::Bytes,
) -> Response {
    let mut st = match authorized(&m, t) {
        Ok(st) => st,
        Err((code, msg)) => return wx_error(code, msg),
    };
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(
            40169,
            "invalid length for scene, or the data is not json string",
        );
    };
    let scene = b["scene"].as_str().unwrap_or_default();
    let n = scene.chars().count();
    if n == 0
        || n > 32
        || !scene
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SCENE_PUNCT.contains(c))
    {
        return wx_error(
            40169,
            "invalid length for scene, or the data is not json string",
        );
    }
    let page = b["page"].as_str().unwrap_or_default();
    let check_path = b["check_path"].as_bool().unwrap_or(true);
    if page.starts_with('/')
        || page.contains('?')
        || (check_path && (page == "pages/missing" || page.starts_with("pages/missing/")))
    {
        return wx_error(41030, "invalid page rid");
    }
    if let Some(v) = b.get("env_version")
        && !["release", "trial", "develop"].contains(&v.as_str().unwrap_or_default())
    {
        return wx_error(40097, "invalid args");
    }
    let width = b["width"].as_u64().unwrap_or(430).clamp(280, 1280) as usize;
    let dark = match (b["auto_color"].as_bool(), b.get("line_color")) {
        (Some(true), _) | (_, None) => [0, 0, 0],
        (_, Some(c)) => [0, 1, 2].map(|i| {
            let k = ["r", "g", "b"][i];
            c[k].as_u64().unwrap_or(0).min(255) as u8
        }),
    };
    let hyaline = b["is_hyaline"].as_bool().unwrap_or(false);
    let Ok(png) = draw(scene, width, dark, hyaline) else {
        return wx_error(-1, "system error");
    };
    st.qrcode_calls += 1;
    // WeChat labels its images image/jpeg, whatever the bytes are.
    ([(header::CONTENT_TYPE, "image/jpeg")], png).into_response()
}

/// The QR code of `scene` as an RGBA PNG about `width` pixels wide.
fn draw(
    scene: &str,
    width: usize,
    dark: [u8; 3],
    hyaline: bool,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let code = qrcode::QrCode::new(scene.as_bytes())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = modules + 2 * QUIET;
    let scale = (width / side).max(1);
    let px = side * scale;
    let light = if hyaline {
        [255, 255, 255, 0]
    } else {
        [255, 255, 255, 255]
    };
    let dark = [dark[0], dark[1], dark[2], 255];
    let mut rgba = Vec::with_capacity(px * px * 4);
    for y in 0..px {
        for x in 0..px {
            let (mx, my) = (x / scale, y / scale);
            let on = (QUIET..QUIET + modules).contains(&mx)
                && (QUIET..QUIET + modules).contains(&my)
                && colors[(my - QUIET) * modules + (mx - QUIET)] == qrcode::Color::Dark;
            rgba.extend_from_slice(if on { &dark } else { &light });
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, px as u32, px as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(&rgba)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG back to its text, as a phone's camera would.
    fn decode(png_bytes: &[u8]) -> String {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        // Over white, in grey.
        let grey = |x: usize, y: usize| {
            let p = &buf[(y * w + x) * 4..][..4];
            let a = p[3] as u32;
            let l = (p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000;
            ((l * a + 255 * (255 - a)) / 255) as u8
        };
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_image_decodes_to_the_scene() {
        for (scene, width, dark, hyaline) in [
            ("room=42", 430, [0, 0, 0], false),
            (
                "!#$&'()*+,/:;=?@-._~abcdefghijkl",
                280,
                [20, 60, 140],
                false,
            ),
            ("a", 1280, [0, 0, 0], true),
        ] {
            let png_bytes = draw(scene, width, dark, hyaline).unwrap();
            assert_eq!(decode(&png_bytes), scene);
        }
    }
}
