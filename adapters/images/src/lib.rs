//! The [`Thumbnailer`] port with the `image` crate (decoding JPEG, PNG, GIF and WebP;
//! encoding JPEG and PNG), `fast_image_resize` (SIMD resizing) and libwebp (lossy WebP:
//! `image` writes lossless WebP only, several times larger than a JPEG for photos).
//!
//! A thumbnail is made in this order, each step refusing what it must:
//!
//! 1. The format is sniffed and the header read; an image whose header claims more than
//!    the [`ImageLimits`] is refused (`IMAGE_TOO_LARGE`) before a pixel is decoded, so a
//!    small file claiming 100000x100000 costs microseconds and no memory.
//! 2. The decoder runs under `image::Limits` too (its allocations are capped), and inside
//!    `catch_unwind`: a truncated or corrupt file is `IMAGE_INVALID`, never a panic
//!    reaching the caller. A GIF gives its first frame.
//! 3. The image is turned upright as its EXIF orientation says, then the part the size
//!    asks for (a centre, top or bottom crop, or all of it) is resized to the thumbnail's
//!    size with a Lanczos3 filter, premultiplying alpha.
//! 4. It is encoded: lossy WebP (quality 80), JPEG (quality 82, transparency over white)
//!    or PNG.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, PngEncoder};
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageError, ImageReader,
    metadata::Orientation,
};
use yunqiao_core::files::thumbs::{ImageLimits, ThumbError, ThumbFormat, ThumbSpec, Thumbnailer};

/// Makes thumbnails; holds nothing but its settings, so one is shared by every thread.
#[derive(Debug, Clone)]
pub struct ImageThumbnailer {
    /// Lossy WebP quality, 0 to 100.
    pub webp_quality: f32,
    /// JPEG quality, 1 to 100.
    pub jpeg_quality: u8,
}

impl Default for ImageThumbnailer {
    fn default() -> Self {
        ImageThumbnailer {
            webp_quality: 80.0,
            jpeg_quality: 82,
        }
    }
}

impl Thumbnailer for ImageThumbnailer {
    fn make(
        &self,
        src: &[u8],
        spec: &ThumbSpec,
        format: ThumbFormat,
        limits: &ImageLimits,
    ) -> Result<Vec<u8>, ThumbError> {
        // The decoders are meant never to panic on bad input; should one, the caller gets
        // an answer and the thread lives on.
        match catch_unwind(AssertUnwindSafe(|| self.thumb(src, spec, format, limits))) {
            Ok(r) => r,
            Err(_) => Err(ThumbError::Invalid("the image could not be decoded".into())),
        }
    }
}

/// A decoded image, upright, as 8-bit RGB or RGBA.
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub pixels: Vec<u8>,
}

impl ImageThumbnailer {
    fn thumb(
        &self,
        src: &[u8],
        spec: &ThumbSpec,
        format: ThumbFormat,
        limits: &ImageLimits,
    ) -> Result<Vec<u8>, ThumbError> {
        let img = decode(src, limits)?;
        let thumb = resize(&img, spec)?;
        self.encode(
            &thumb.pixels,
            thumb.width,
            thumb.height,
            thumb.alpha,
            format,
        )
    }

    /// Encodes 8-bit RGB (or RGBA, with `alpha`) pixels as `format`.
    pub fn encode(
        &self,
        pixels: &[u8],
        width: u32,
        height: u32,
        alpha: bool,
        format: ThumbFormat,
    ) -> Result<Vec<u8>, ThumbError> {
        let failed = |e: ImageError| ThumbError::Failed(e.to_string());
        let mut out = Vec::new();
        match format {
            ThumbFormat::WebP => {
                let enc = if alpha {
                    webp::Encoder::from_rgba(pixels, width, height)
                } else {
                    webp::Encoder::from_rgb(pixels, width, height)
                };
                let mem = enc
                    .encode_simple(false, self.webp_quality)
                    .map_err(|e| ThumbError::Failed(format!("WebP: {e:?}")))?;
                out.extend_from_slice(&mem);
            }
            ThumbFormat::Jpeg => {
                let flat;
                let rgb = if alpha {
                    flat = over_white(pixels);
                    &flat[..]
                } else {
                    pixels
                };
                JpegEncoder::new_with_quality(&mut out, self.jpeg_quality)
                    .write_image(rgb, width, height, ExtendedColorType::Rgb8)
                    .map_err(failed)?;
            }
            ThumbFormat::Png => {
                let color = if alpha {
                    ExtendedColorType::Rgba8
                } else {
                    ExtendedColorType::Rgb8
                };
                PngEncoder::new_with_quality(
                    &mut out,
                    CompressionType::Default,
                    image::codecs::png::FilterType::Adaptive,
                )
                .write_image(pixels, width, height, color)
                .map_err(failed)?;
            }
        }
        Ok(out)
    }
}

/// Reads `src`'s header, refuses it if it claims more than `limits`, then decodes it and
/// turns it upright. Not guarded against panics (see [`Thumbnailer::make`]).
pub fn decode(src: &[u8], limits: &ImageLimits) -> Result<Decoded, ThumbError> {
    let mut reader = ImageReader::new(Cursor::new(src))
        .with_guessed_format()
        .map_err(|e| ThumbError::Invalid(e.to_string()))?;
    match reader.format() {
        None => return Err(not_an_image()),
        // The JPEG decoder fills what is missing with grey; a cut file is refused here.
        Some(image::ImageFormat::Jpeg) if !jpeg_complete(src) => {
            return Err(ThumbError::Invalid(
                "the JPEG is truncated (it has no end-of-image marker)".into(),
            ));
        }
        Some(_) => {}
    }
    // The decoder's allocations are capped; the dimensions are checked below, where the
    // error can say what they are.
    let mut caps = image::Limits::default();
    caps.max_alloc = Some(limits.max_alloc_bytes());
    reader.limits(caps);
    // Reads the header only: no pixel is decoded yet.
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (w, h) = decoder.dimensions();
    if !limits.admits(w, h) {
        return Err(limits.refusal(w, h));
    }
    // An unreadable EXIF block leaves the image as stored; a broken image fails below.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let alpha = decoder.color_type().has_alpha();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => limits.refusal(w, h),
        e => invalid(e),
    })?;
    img.apply_orientation(orientation);
    let (width, height) = (img.width(), img.height());
    let pixels = if alpha {
        img.into_rgba8().into_raw()
    } else {
        img.into_rgb8().into_raw()
    };
    Ok(Decoded {
        width,
        height,
        alpha,
        pixels,
    })
}

/// Whether a JPEG's segments run to its end-of-image marker: each segment is skipped by
/// its length, each scan's entropy-coded data up to the next marker (a `0xFF` not
/// followed by a stuffed `0x00` or a restart marker). Bytes after the marker are
/// allowed; an EXIF thumbnail's own marker, inside its segment, is skipped.
pub fn jpeg_complete(src: &[u8]) -> bool {
    if !src.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        // The next marker: any bytes before it are skipped (decoders do), then fill bytes.
        while i < src.len() && src[i] != 0xFF {
            i += 1;
        }
        while i < src.len() && src[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = src.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            0xD0..=0xD7 | 0x01 | 0x00 => continue,
            _ => {}
        }
        let Some(len) = src.get(i..i + 2) else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // A scan: its data runs to the next real marker.
            loop {
                match (src.get(i), src.get(i + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

/// The part of `img` that `spec` asks for, resized to the thumbnail's size (Lanczos3,
/// alpha premultiplied while resizing).
pub fn resize(img: &Decoded, spec: &ThumbSpec) -> Result<Decoded, ThumbError> {
    let (ow, oh) = spec.output_size(img.width, img.height);
    let (x, y, cw, ch) = spec.crop(img.width, img.height, ow, oh);
    let pixel_type = if img.alpha {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let failed = |e: &dyn std::fmt::Display| ThumbError::Failed(e.to_string());
    let src =
        ImageRef::new(img.width, img.height, &img.pixels, pixel_type).map_err(|e| failed(&e))?;
    let mut dst = Image::new(ow, oh, pixel_type);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(f64::from(x), f64::from(y), f64::from(cw), f64::from(ch));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| failed(&e))?;
    Ok(Decoded {
        width: ow,
        height: oh,
        alpha: img.alpha,
        pixels: dst.into_vec(),
    })
}

fn not_an_image() -> ThumbError {
    ThumbError::Invalid("not a JPEG, PNG, GIF or WebP image".into())
}

fn invalid(e: ImageError) -> ThumbError {
    match e {
        ImageError::Unsupported(_) => not_an_image(),
        e => ThumbError::Invalid(e.to_string()),
    }
}

/// RGBA pixels composited over white, as RGB.
fn over_white(rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.len() / 4 * 3);
    for p in rgba.chunks_exact(4) {
        let a = u32::from(p[3]);
        for &c in &p[..3] {
            out.push(((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    out
}

/// Images made in code, for tests and the benchmark.
pub mod sample {
    use image::{Rgb, RgbImage};

    /// A photo-like picture: a sky-to-ground gradient, soft shapes, fine texture and
    /// sensor-like noise (compresses like a photo, not like a flat drawing).
    pub fn photo(width: u32, height: u32) -> RgbImage {
        let mut seed: u32 = 0x9e37_79b9;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 13) as f32 - 6.0
        };
        let (w, h) = (width as f32, height as f32);
        let blobs = [
            (0.3, 0.55, 0.18, [200.0, 60.0, 40.0]),
            (0.7, 0.45, 0.22, [40.0, 140.0, 60.0]),
            (0.5, 0.8, 0.3, [90.0, 70.0, 50.0]),
            (0.82, 0.2, 0.08, [250.0, 230.0, 180.0]),
        ];
        RgbImage::from_fn(width, height, |x, y| {
            let (u, v) = (x as f32 / w, y as f32 / h);
            let mut c = [
                90.0 + 120.0 * (1.0 - v),
                130.0 + 90.0 * (1.0 - v),
                200.0 - 120.0 * v,
            ];
            for (bx, by, r, col) in blobs {
                let d = ((u - bx).powi(2) + ((v - by) * h / w).powi(2)).sqrt() / r;
                let k = (1.0 - d).clamp(0.0, 1.0).powf(0.6);
                for i in 0..3 {
                    c[i] = c[i] * (1.0 - k) + col[i] * k;
                }
            }
            let texture = 10.0 * ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos())
                + 6.0 * ((x as f32 * 0.05 + y as f32 * 0.09).sin());
            let n = noise();
            Rgb(c.map(|ch| (ch + texture + n).clamp(0.0, 255.0) as u8))
        })
    }
}
