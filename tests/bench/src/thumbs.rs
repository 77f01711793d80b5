//! Thumbnails: a 1600x1200 photo-like JPEG made into a 200x200 centre crop by
//! yunqiao-images (JPEG and lossy WebP out), beside the image crate doing the same alone
//! (decode, `resize_to_fill` with the same Lanczos3 filter, its JPEG encoder), same input,
//! same run, one thread. Then each step alone: decoding, and the two resizers on the same
//! decoded pixels.

use std::time::{Duration, Instant};

use image::imageops::FilterType;
use image::{DynamicImage, ImageEncoder};
use yunqiao_core::files::thumbs::{ImageLimits, ThumbFormat, ThumbSpec, Thumbnailer};
use yunqiao_images::{ImageThumbnailer, sample};

use crate::BoxError;

/// Runs `f` for `dur` (after a short warm-up); answers calls per second.
fn per_sec(dur: Duration, mut f: impl FnMut() -> Result<(), BoxError>) -> Result<f64, BoxError> {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        f()?;
    }
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < dur {
        f()?;
        n += 1;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

pub fn bench(dur: Duration, wanted: &str) -> Result<(), BoxError> {
    let photo = sample::photo(1600, 1200);
    let mut src = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut src, 85).write_image(
        photo.as_raw(),
        1600,
        1200,
        image::ExtendedColorType::Rgb8,
    )?;
    let spec: ThumbSpec = "200x200".parse()?;
    let limits = ImageLimits::default();
    let ours = ImageThumbnailer::default();
    println!(
        "\n== thumbnails: 1600x1200 photo-like JPEG ({} KB) -> 200x200 centre crop, 1 thread, {}s each ==",
        src.len() / 1024,
        dur.as_secs()
    );
    let on = |name: &str| {
        wanted.is_empty()
            || wanted
                .split(',')
                .any(|w| !w.is_empty() && name.contains(w.trim()))
    };

    let baseline = per_sec(dur, || {
        let img = image::load_from_memory(&src)?;
        let t = img.resize_to_fill(200, 200, FilterType::Lanczos3).to_rgb8();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82).write_image(
            t.as_raw(),
            200,
            200,
            image::ExtendedColorType::Rgb8,
        )?;
        Ok(())
    })?;
    println!(
        "{:<46} {:>8.1}/s",
        "image crate: decode + resize_to_fill + JPEG", baseline
    );
    for (name, format) in [
        ("yunqiao-images -> JPEG", ThumbFormat::Jpeg),
        ("yunqiao-images -> WebP (lossy)", ThumbFormat::WebP),
        ("yunqiao-images -> PNG", ThumbFormat::Png),
    ] {
        if !on(name) {
            continue;
        }
        let mut size = 0;
        let r = per_sec(dur, || {
            size = ours.make(&src, &spec, format, &limits)?.len();
            Ok(())
        })?;
        println!(
            "{name:<46} {r:>8.1}/s   {:.2}x the image crate   ({:.1} KB a thumb)",
            r / baseline,
            size as f64 / 1024.0
        );
    }

    if on("steps") {
        println!("   each step alone, on the same input:");
        let decode = per_sec(dur, || {
            yunqiao_images::decode(&src, &limits)?;
            Ok(())
        })?;
        println!("   {:<43} {decode:>8.1}/s", "decode (zune-jpeg via image)");
        let decoded = yunqiao_images::decode(&src, &limits)?;
        let dynamic = DynamicImage::ImageRgb8(photo.clone());
        let theirs = per_sec(dur, || {
            std::hint::black_box(dynamic.resize_to_fill(200, 200, FilterType::Lanczos3));
            Ok(())
        })?;
        println!(
            "   {:<43} {theirs:>8.1}/s",
            "resize: image resize_to_fill (Lanczos3)"
        );
        let fir = per_sec(dur, || {
            yunqiao_images::resize(&decoded, &spec)?;
            Ok(())
        })?;
        println!(
            "   {:<43} {fir:>8.1}/s   {:.1}x",
            "resize: fast_image_resize crop (Lanczos3)",
            fir / theirs
        );
    }
    // A bomb: a 65-byte PNG claiming 100000x100000, refused from its header.
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut bomb, b"IHDR", &ihdr);
    chunk(
        &mut bomb,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut bomb, b"IEND", &[]);
    if on("bomb") {
        let r = per_sec(dur.min(Duration::from_secs(1)), || {
            match ours.make(&bomb, &spec, ThumbFormat::WebP, &limits) {
                Err(yunqiao_core::files::thumbs::ThumbError::TooLarge { .. }) => Ok(()),
                other => {
                    Err(format!("a bomb was not refused: {:?}", other.map(|v| v.len())).into())
                }
            }
        })?;
        println!(
            "{:<46} {r:>8.0}/s   ({:.1} µs each)",
            "bomb refused (65-byte PNG, 100000x100000)",
            1e6 / r
        );
    }
    Ok(())
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
