//! Thumbnails of image files, asked for in PocketBase's size syntax and made once.
//!
//! * A size is `WxH` (fill the box, cropping the centre), `WxHt` / `WxHb` (cropping to
//!   keep the top or bottom), `WxHf` (fit inside the box, never enlarged), or `0xH` /
//!   `Wx0` (that height or width, keeping the ratio). Only sizes the configuration lists
//!   are made ([`check_allowed`]): anything else would let a client fill the store.
//! * The format follows the client and the source ([`ThumbFormat::choose`]): WebP where
//!   the client accepts it, else JPEG for photos and PNG where there may be transparency.
//! * A thumb is kept under [`thumb_key`] (`t/<file id>/<size>.<ext>`), so it is made
//!   once per file, size and format; deleting the file deletes the keys of every size
//!   and format it may have ([`thumb_keys`]).
//! * Making one is the [`Thumbnailer`] port's work: synchronous and CPU-bound, so it runs
//!   on a blocking thread behind a bound ([`ThumbWorker`]), and it refuses images whose
//!   header claims more than [`ImageLimits`] before it decodes anything, so a
//!   decompression bomb is answered with [`Code::ImageTooLarge`] while other requests
//!   are served.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::json;

use crate::error::{Code, Error};

/// The largest side a thumbnail may ask for.
pub const MAX_THUMB_SIDE: u32 = 4096;

/// How a thumbnail fills its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThumbMode {
    /// `WxH`: exactly the box, cropped around the centre.
    Center,
    /// `WxHt`: exactly the box, cropped to keep the top.
    Top,
    /// `WxHb`: exactly the box, cropped to keep the bottom.
    Bottom,
    /// `WxHf`: inside the box with the image's ratio, never larger than the image.
    Fit,
    /// `0xH` or `Wx0`: the one side given, the other keeping the ratio.
    KeepRatio,
}

/// A thumbnail size in PocketBase's syntax. Parse with [`str::parse`]; [`Display`] gives
/// the canonical form (what keys and allow-lists compare).
///
/// [`Display`]: fmt::Display
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThumbSpec {
    /// 0 only with [`ThumbMode::KeepRatio`].
    pub width: u32,
    /// 0 only with [`ThumbMode::KeepRatio`].
    pub height: u32,
    pub mode: ThumbMode,
}

/// A size that is not one of PocketBase's forms, or asks for too much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl FromStr for ThumbSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<ThumbSpec, SpecError> {
        let bad = || {
            SpecError(format!(
                "{s:?} is not a thumbnail size: WxH, WxHt, WxHb, WxHf, 0xH or Wx0"
            ))
        };
        let (body, mode) = match s.as_bytes().last() {
            Some(b't') => (&s[..s.len() - 1], ThumbMode::Top),
            Some(b'b') => (&s[..s.len() - 1], ThumbMode::Bottom),
            Some(b'f') => (&s[..s.len() - 1], ThumbMode::Fit),
            _ => (s, ThumbMode::Center),
        };
        let (w, h) = body.split_once('x').ok_or_else(bad)?;
        let side = |d: &str| -> Result<u32, SpecError> {
            // Digits only (no sign, no spaces), and short enough to parse.
            if d.is_empty() || d.len() > 5 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            d.parse().map_err(|_| bad())
        };
        let (width, height) = (side(w)?, side(h)?);
        if width == 0 && height == 0 {
            return Err(SpecError(format!(
                "{s:?}: a thumbnail has a width or a height"
            )));
        }
        if width > MAX_THUMB_SIDE || height > MAX_THUMB_SIDE {
            return Err(SpecError(format!(
                "{s:?}: a thumbnail's sides are at most {MAX_THUMB_SIDE}"
            )));
        }
        // PocketBase accepts a crop or fit letter after a 0 side and ignores it.
        let mode = if width == 0 || height == 0 {
            ThumbMode::KeepRatio
        } else {
            mode
        };
        Ok(ThumbSpec {
            width,
            height,
            mode,
        })
    }
}

impl fmt::Display for ThumbSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = match self.mode {
            ThumbMode::Center | ThumbMode::KeepRatio => "",
            ThumbMode::Top => "t",
            ThumbMode::Bottom => "b",
            ThumbMode::Fit => "f",
        };
        write!(f, "{}x{}{suffix}", self.width, self.height)
    }
}

impl ThumbSpec {
    /// The thumbnail's size for a `src_w` x `src_h` image (already turned upright).
    /// Every side is at least 1 and at most [`MAX_THUMB_SIDE`] (a keep-ratio thumb of a
    /// very long image is cut to that).
    pub fn output_size(&self, src_w: u32, src_h: u32) -> (u32, u32) {
        let (sw, sh) = (u64::from(src_w.max(1)), u64::from(src_h.max(1)));
        let (w, h) = (u64::from(self.width), u64::from(self.height));
        let clamp = |v: u64| v.clamp(1, u64::from(MAX_THUMB_SIDE)) as u32;
        // `a * b / c` rounded to the nearest.
        let scale = |a: u64, b: u64, c: u64| (a * b + c / 2) / c;
        match self.mode {
            ThumbMode::Center | ThumbMode::Top | ThumbMode::Bottom => (clamp(w), clamp(h)),
            ThumbMode::KeepRatio if w == 0 => (clamp(scale(sw, h, sh)), clamp(h)),
            ThumbMode::KeepRatio => (clamp(w), clamp(scale(sh, w, sw))),
            ThumbMode::Fit => {
                if sw <= w && sh <= h {
                    (clamp(sw), clamp(sh))
                } else if sw * h > sh * w {
                    // Wider than the box: the width fills it.
                    (clamp(w), clamp(scale(sh, w, sw)))
                } else {
                    (clamp(scale(sw, h, sh)), clamp(h))
                }
            }
        }
    }

    /// The part of a `src_w` x `src_h` image that fills an `out_w` x `out_h` thumbnail:
    /// `(x, y, width, height)`. Crops keep the box's ratio, centred across and placed
    /// by the mode down (or centred, for a wide image, whatever the mode); other modes
    /// take the whole image.
    pub fn crop(&self, src_w: u32, src_h: u32, out_w: u32, out_h: u32) -> (u32, u32, u32, u32) {
        if !matches!(
            self.mode,
            ThumbMode::Center | ThumbMode::Top | ThumbMode::Bottom
        ) {
            return (0, 0, src_w, src_h);
        }
        let (sw, sh) = (u64::from(src_w), u64::from(src_h));
        let (ow, oh) = (u64::from(out_w.max(1)), u64::from(out_h.max(1)));
        if sw * oh > sh * ow {
            // Wider than the box: keep the full height, cut the sides evenly.
            let cw = ((sh * ow + oh / 2) / oh).clamp(1, sw);
            let x = (sw - cw) / 2;
            (x as u32, 0, cw as u32, src_h)
        } else {
            let ch = ((sw * oh + ow / 2) / ow).clamp(1, sh.max(1));
            let y = match self.mode {
                ThumbMode::Top => 0,
                ThumbMode::Bottom => sh - ch,
                _ => (sh - ch) / 2,
            };
            (0, y as u32, src_w, ch as u32)
        }
    }
}

/// The sizes made when the configuration names none: PocketBase's default.
pub const DEFAULT_SIZES: &[&str] = &["100x100"];

/// Thumbnail settings (`[files] thumb_sizes` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbsConfig {
    /// The sizes that may be asked for. Empty: thumbnails are off.
    pub sizes: Vec<ThumbSpec>,
    /// What a source image may be.
    pub limits: ImageLimits,
    /// How many thumbnails are made at once (each takes a core and up to
    /// `limits.max_alloc_bytes()` of memory).
    pub max_concurrent: usize,
}

impl Default for ThumbsConfig {
    fn default() -> Self {
        ThumbsConfig {
            sizes: parse_sizes(DEFAULT_SIZES.iter().copied()).unwrap_or_default(),
            limits: ImageLimits::default(),
            max_concurrent: 2,
        }
    }
}

/// The configured sizes, each checked; the first bad one is the error.
pub fn parse_sizes<'a>(
    sizes: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ThumbSpec>, SpecError> {
    let mut out: Vec<ThumbSpec> = Vec::new();
    for s in sizes {
        let spec: ThumbSpec = s.trim().parse()?;
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    Ok(out)
}

/// Whether `spec` is one of the configured sizes (compared canonically: `0x100t` is
/// `0x100`).
pub fn allowed(spec: &ThumbSpec, sizes: &[ThumbSpec]) -> bool {
    sizes.contains(spec)
}

/// A size from a request (`?thumb=`), parsed and checked against the configured sizes:
/// `THUMB_SIZE_NOT_ALLOWED` (with the allowed sizes) for anything else.
pub fn check_allowed(requested: &str, sizes: &[ThumbSpec]) -> Result<ThumbSpec, Error> {
    let allowed_list = || sizes.iter().map(ToString::to_string).collect::<Vec<_>>();
    let spec: ThumbSpec = requested.parse().map_err(|e: SpecError| {
        Error::new(Code::ThumbSizeNotAllowed, e.0)
            .with_details(json!({"thumb": requested, "allowed": allowed_list()}))
    })?;
    if !allowed(&spec, sizes) {
        return Err(Error::new(
            Code::ThumbSizeNotAllowed,
            format!("thumbnails of size {spec} are not made here"),
        )
        .with_details(json!({"thumb": requested, "allowed": allowed_list()})));
    }
    Ok(spec)
}

/// A thumbnail's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThumbFormat {
    WebP,
    Jpeg,
    Png,
}

impl ThumbFormat {
    pub const ALL: [ThumbFormat; 3] = [ThumbFormat::WebP, ThumbFormat::Jpeg, ThumbFormat::Png];

    /// The format for a client that sent `accept` (its `Accept` header), of a source of
    /// type `source_type` (as sniffed): WebP when the client names `image/webp` (a `*/*`
    /// does not count: many clients say it and cannot show WebP); else JPEG for JPEG
    /// sources, PNG for the others (PNG, GIF and WebP may be transparent).
    pub fn choose(accept: Option<&str>, source_type: &str) -> ThumbFormat {
        if accept.is_some_and(accepts_webp) {
            return ThumbFormat::WebP;
        }
        match source_type.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => ThumbFormat::Jpeg,
            _ => ThumbFormat::Png,
        }
    }

    /// The format a client named (`?format=webp`), overriding what `Accept` says.
    pub fn from_name(name: &str) -> Option<ThumbFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "webp" => Some(ThumbFormat::WebP),
            "jpeg" | "jpg" => Some(ThumbFormat::Jpeg),
            "png" => Some(ThumbFormat::Png),
            _ => None,
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            ThumbFormat::WebP => "image/webp",
            ThumbFormat::Jpeg => "image/jpeg",
            ThumbFormat::Png => "image/png",
        }
    }

    pub const fn ext(self) -> &'static str {
        match self {
            ThumbFormat::WebP => "webp",
            ThumbFormat::Jpeg => "jpg",
            ThumbFormat::Png => "png",
        }
    }
}

/// Whether an `Accept` header names `image/webp` with a quality above 0.
fn accepts_webp(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut params = part.split(';');
        let essence = params.next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("image/webp")
            && params.all(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return true;
                };
                !k.trim().eq_ignore_ascii_case("q")
                    || v.trim().parse::<f32>().is_ok_and(|q| q > 0.0)
            })
    })
}

/// Whether thumbnails are made of files of this type (as sniffed).
pub fn thumbable(source_type: &str) -> bool {
    matches!(
        source_type.trim().to_ascii_lowercase().as_str(),
        "image/jpeg" | "image/jpg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// The object key of a file's thumbnail: `t/<file id>/<size>.<ext>`.
pub fn thumb_key(file_id: &str, spec: &ThumbSpec, format: ThumbFormat) -> String {
    format!("t/{file_id}/{spec}.{}", format.ext())
}

/// Every key a file's thumbnails may have under `sizes`, for deleting them with it.
pub fn thumb_keys(file_id: &str, sizes: &[ThumbSpec]) -> Vec<String> {
    sizes
        .iter()
        .flat_map(|s| ThumbFormat::ALL.map(|f| thumb_key(file_id, s, f)))
        .collect()
}

/// What a source image may be, checked from its header before it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    pub max_width: u32,
    pub max_height: u32,
    /// Width times height.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    /// 16384 a side and 40 megapixels: a 48 MP phone photo is refused, a 12 MP one
    /// (4032x3024) is not; decoding one takes up to 160 MB (RGBA).
    fn default() -> Self {
        ImageLimits {
            max_width: 16_384,
            max_height: 16_384,
            max_pixels: 40_000_000,
        }
    }
}

impl ImageLimits {
    /// Whether a `width` x `height` image is within the limits.
    pub fn admits(&self, width: u32, height: u32) -> bool {
        width <= self.max_width
            && height <= self.max_height
            && u64::from(width) * u64::from(height) <= self.max_pixels
    }

    /// The most a decoder may allocate for an image within the limits: 8 bytes a pixel
    /// (16-bit RGBA) and 16 MiB for its tables and buffers.
    pub fn max_alloc_bytes(&self) -> u64 {
        self.max_pixels.saturating_mul(8).saturating_add(16 << 20)
    }

    /// The error for a `width` x `height` image over the limits.
    pub fn refusal(&self, width: u32, height: u32) -> ThumbError {
        ThumbError::TooLarge {
            width,
            height,
            limits: *self,
        }
    }
}

/// Why a thumbnail could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbError {
    /// The image claims (or would take) more than the limits: `IMAGE_TOO_LARGE` 413.
    #[error(
        "the image is {width}x{height}; images are at most {}x{} and {} pixels",
        limits.max_width,
        limits.max_height,
        limits.max_pixels
    )]
    TooLarge {
        width: u32,
        height: u32,
        limits: ImageLimits,
    },
    /// Truncated, corrupt, or not an image we read: `IMAGE_INVALID` 400.
    #[error("the image cannot be read: {0}")]
    Invalid(String),
    /// Encoding failed, or the thumbnailer broke: `INTERNAL` 500.
    #[error("the thumbnail could not be made: {0}")]
    Failed(String),
}

impl From<ThumbError> for Error {
    fn from(e: ThumbError) -> Error {
        match &e {
            ThumbError::TooLarge {
                width,
                height,
                limits,
            } => Error::new(Code::ImageTooLarge, e.to_string()).with_details(json!({
                "width": width, "height": height,
                "max_width": limits.max_width, "max_height": limits.max_height,
                "max_pixels": limits.max_pixels,
            })),
            ThumbError::Invalid(_) => Error::new(Code::ImageInvalid, e.to_string()),
            ThumbError::Failed(m) => {
                tracing::error!(error = %m, "thumbnail failed");
                Error::internal("the thumbnail could not be made")
            }
        }
    }
}

/// The port: makes a thumbnail of the image `src` (JPEG, PNG, GIF's first frame, WebP),
/// turned upright as its EXIF orientation says, at `spec`, encoded as `format`.
///
/// Implementations refuse an image whose header claims more than `limits` before
/// decoding it, never panic on bad input, and are synchronous: callers run them on a
/// blocking thread ([`ThumbWorker`]).
pub trait Thumbnailer: Send + Sync {
    fn make(
        &self,
        src: &[u8],
        spec: &ThumbSpec,
        format: ThumbFormat,
        limits: &ImageLimits,
    ) -> Result<Vec<u8>, ThumbError>;
}

/// Runs a [`Thumbnailer`] on tokio's blocking threads, at most `max_concurrent` at once
/// (the others wait their turn), so thumbnails neither stall the async workers nor take
/// every core.
#[derive(Clone)]
pub struct ThumbWorker {
    thumbnailer: Arc<dyn Thumbnailer>,
    permits: Arc<tokio::sync::Semaphore>,
    limits: ImageLimits,
}

impl ThumbWorker {
    pub fn new(thumbnailer: Arc<dyn Thumbnailer>, cfg: &ThumbsConfig) -> ThumbWorker {
        ThumbWorker {
            thumbnailer,
            permits: Arc::new(tokio::sync::Semaphore::new(cfg.max_concurrent.max(1))),
            limits: cfg.limits,
        }
    }

    /// Makes one thumbnail of `src`.
    pub async fn make(
        &self,
        src: Vec<u8>,
        spec: ThumbSpec,
        format: ThumbFormat,
    ) -> Result<Vec<u8>, ThumbError> {
        let permit = self.permit().await?;
        self.run(permit, src, spec, format).await
    }

    /// Makes one thumbnail of what `load` reads, which runs only once this request's
    /// turn has come: requests waiting for a place hold no source in memory.
    pub async fn make_from<F>(
        &self,
        load: F,
        spec: ThumbSpec,
        format: ThumbFormat,
    ) -> Result<Vec<u8>, Error>
    where
        F: std::future::Future<Output = Result<Vec<u8>, Error>>,
    {
        let permit = self.permit().await?;
        let src = load.await?;
        Ok(self.run(permit, src, spec, format).await?)
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ThumbError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ThumbError::Failed("the thumbnail worker is closed".into()))
    }

    async fn run(
        &self,
        permit: tokio::sync::OwnedSemaphorePermit,
        src: Vec<u8>,
        spec: ThumbSpec,
        format: ThumbFormat,
    ) -> Result<Vec<u8>, ThumbError> {
        let t = self.thumbnailer.clone();
        let limits = self.limits;
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            t.make(&src, &spec, format, &limits)
        })
        .await;
        match out {
            Ok(r) => r,
            Err(e) => Err(ThumbError::Failed(format!("the thumbnailer stopped: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> ThumbSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn sizes_parse_in_pocketbase_syntax() {
        let cases = [
            ("100x100", 100, 100, ThumbMode::Center),
            ("100x50t", 100, 50, ThumbMode::Top),
            ("100x50b", 100, 50, ThumbMode::Bottom),
            ("100x50f", 100, 50, ThumbMode::Fit),
            ("0x100", 0, 100, ThumbMode::KeepRatio),
            ("100x0", 100, 0, ThumbMode::KeepRatio),
            ("4096x4096", 4096, 4096, ThumbMode::Center),
        ];
        for (s, w, h, m) in cases {
            let t = spec(s);
            assert_eq!((t.width, t.height, t.mode), (w, h, m), "{s}");
            assert_eq!(t.to_string(), s, "round trip");
        }
        // A letter after a 0 side means nothing (as in PocketBase): one canonical form.
        assert_eq!(spec("0x100t"), spec("0x100"));
        assert_eq!(spec("100x0f").to_string(), "100x0");
        assert_eq!(spec("007x010").to_string(), "7x10");
    }

    #[test]
    fn bad_sizes_are_refused() {
        for s in [
            "",
            "x",
            "100",
            "100x",
            "x100",
            "0x0",
            "0x0f",
            "100x100x",
            "100x100c",
            "100X100",
            "-1x100",
            "+1x100",
            " 100x100",
            "100x100 ",
            "1.5x2",
            "4097x10",
            "10x4097",
            "99999x1",
            "999999999999x1",
            "100x100tt",
            "100×100",
            "١٠٠x100",
        ] {
            assert!(s.parse::<ThumbSpec>().is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn output_sizes_follow_the_mode() {
        // A 400x200 (wide) image.
        assert_eq!(spec("100x100").output_size(400, 200), (100, 100));
        assert_eq!(spec("100x100t").output_size(400, 200), (100, 100));
        assert_eq!(spec("100x100f").output_size(400, 200), (100, 50));
        assert_eq!(spec("100x100f").output_size(200, 400), (50, 100));
        assert_eq!(
            spec("1000x1000f").output_size(400, 200),
            (400, 200),
            "never enlarged"
        );
        assert_eq!(spec("0x100").output_size(400, 200), (200, 100));
        assert_eq!(spec("100x0").output_size(400, 200), (100, 50));
        assert_eq!(
            spec("100x0").output_size(3, 1000),
            (100, 4096),
            "cut to the maximum"
        );
        assert_eq!(spec("100x0").output_size(1000, 1), (100, 1), "at least 1");
    }

    #[test]
    fn crops_keep_the_asked_part() {
        // A tall 100x400 image into 100x100: a 100x100 square at the top, middle, bottom.
        assert_eq!(spec("100x100t").crop(100, 400, 100, 100), (0, 0, 100, 100));
        assert_eq!(spec("100x100").crop(100, 400, 100, 100), (0, 150, 100, 100));
        assert_eq!(
            spec("100x100b").crop(100, 400, 100, 100),
            (0, 300, 100, 100)
        );
        // A wide one is cut at the sides, evenly, whatever the mode.
        assert_eq!(
            spec("100x100t").crop(400, 100, 100, 100),
            (150, 0, 100, 100)
        );
        assert_eq!(spec("100x100f").crop(400, 100, 100, 25), (0, 0, 400, 100));
        assert_eq!(spec("0x50").crop(400, 100, 200, 50), (0, 0, 400, 100));
    }

    #[test]
    fn only_configured_sizes_are_made() {
        let sizes = parse_sizes(["100x100", "0x300", "200x200f"]).unwrap();
        assert!(allowed(&spec("100x100"), &sizes));
        assert!(allowed(&spec("0x300b"), &sizes), "canonically 0x300");
        assert!(!allowed(&spec("100x100t"), &sizes));
        assert_eq!(
            check_allowed("200x200f", &sizes).ok(),
            Some(spec("200x200f"))
        );
        for bad in ["300x300", "nonsense", "0x0"] {
            let e = check_allowed(bad, &sizes).unwrap_err();
            assert_eq!(e.code, Code::ThumbSizeNotAllowed, "{bad}");
            assert_eq!(e.status(), 400);
            assert_eq!(
                e.details["allowed"],
                json!(["100x100", "0x300", "200x200f"])
            );
        }
        assert!(parse_sizes(["100x100", "0x0"]).is_err());
        assert_eq!(ThumbsConfig::default().sizes, vec![spec("100x100")]);
    }

    #[test]
    fn formats_follow_the_client_then_the_source() {
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        assert_eq!(
            ThumbFormat::choose(Some(chrome), "image/png"),
            ThumbFormat::WebP
        );
        assert_eq!(
            ThumbFormat::choose(Some("IMAGE/WEBP"), "image/jpeg"),
            ThumbFormat::WebP
        );
        assert_eq!(
            ThumbFormat::choose(Some("image/webp;q=0, image/*"), "image/jpeg"),
            ThumbFormat::Jpeg,
            "q=0 refuses"
        );
        assert_eq!(
            ThumbFormat::choose(Some("image/webp; q=0.5"), "image/jpeg"),
            ThumbFormat::WebP
        );
        for accept in [None, Some("*/*"), Some("image/*"), Some("application/json")] {
            assert_eq!(ThumbFormat::choose(accept, "image/jpeg"), ThumbFormat::Jpeg);
            assert_eq!(ThumbFormat::choose(accept, "image/png"), ThumbFormat::Png);
            assert_eq!(ThumbFormat::choose(accept, "image/gif"), ThumbFormat::Png);
            assert_eq!(ThumbFormat::choose(accept, "image/webp"), ThumbFormat::Png);
        }
        assert_eq!(ThumbFormat::from_name("JPG"), Some(ThumbFormat::Jpeg));
        assert_eq!(ThumbFormat::from_name("avif"), None);
        assert!(thumbable("image/gif") && !thumbable("application/pdf"));
    }

    #[test]
    fn thumbs_are_kept_under_their_size_and_format() {
        let id = "01hx0000000000000000000000";
        let k = thumb_key(id, &spec("100x100t"), ThumbFormat::WebP);
        assert_eq!(k, format!("t/{id}/100x100t.webp"));
        assert_eq!(crate::blob::validate_key(&k), Ok(()));
        assert_eq!(
            thumb_key(id, &spec("0x50f"), ThumbFormat::Jpeg),
            format!("t/{id}/0x50.jpg")
        );
        let all = thumb_keys(id, &[spec("100x100"), spec("0x50")]);
        assert_eq!(all.len(), 6);
        assert!(all.contains(&format!("t/{id}/0x50.png")));
    }

    #[test]
    fn errors_have_stable_codes() {
        let limits = ImageLimits::default();
        assert!(limits.admits(4032, 3024));
        assert!(!limits.admits(8000, 6000), "48 MP");
        assert!(!limits.admits(100_000, 1));
        let e: Error = limits.refusal(100_000, 100_000).into();
        assert_eq!((e.code.as_str(), e.status()), ("IMAGE_TOO_LARGE", 413));
        assert_eq!(e.details["width"], 100_000);
        let e: Error = ThumbError::Invalid("truncated".into()).into();
        assert_eq!((e.code.as_str(), e.status()), ("IMAGE_INVALID", 400));
        let e: Error = ThumbError::Failed("boom".into()).into();
        assert_eq!(e.status(), 500);
    }

    struct Echo;
    impl Thumbnailer for Echo {
        fn make(
            &self,
            src: &[u8],
            _: &ThumbSpec,
            _: ThumbFormat,
            limits: &ImageLimits,
        ) -> Result<Vec<u8>, ThumbError> {
            match src {
                b"bomb" => Err(limits.refusal(100_000, 100_000)),
                b"panic" => panic!("a broken thumbnailer"),
                _ => Ok(src.to_vec()),
            }
        }
    }

    #[tokio::test]
    async fn the_worker_answers_each_request() {
        let w = ThumbWorker::new(Arc::new(Echo), &ThumbsConfig::default());
        let s = spec("100x100");
        let (a, b, c) = tokio::join!(
            w.make(b"ok".to_vec(), s, ThumbFormat::Png),
            w.make(b"bomb".to_vec(), s, ThumbFormat::Png),
            w.make(b"panic".to_vec(), s, ThumbFormat::Png),
        );
        assert_eq!(a, Ok(b"ok".to_vec()));
        assert!(matches!(b, Err(ThumbError::TooLarge { .. })));
        assert!(matches!(c, Err(ThumbError::Failed(_))));
        // The permit of the one that panicked was given back.
        assert_eq!(
            w.make(b"again".to_vec(), s, ThumbFormat::Png).await,
            Ok(b"again".to_vec())
        );
    }
}
