//! The Thumbnailer on images made here: sizes and crops by pixel colour, EXIF
//! orientation, formats, and bombs refused (fast, without allocating) while other
//! thumbnails are made.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::sync::Arc;

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use yunqiao_core::error::Error;
use yunqiao_core::files::thumbs::{
    ImageLimits, ThumbError, ThumbFormat, ThumbSpec, ThumbWorker, Thumbnailer, ThumbsConfig,
};
use yunqiao_images::{ImageThumbnailer, sample};

// Counts the bytes each thread allocates, to show a bomb is refused without decoding.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size() as u64));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size as u64));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `f` allocated on this thread, in bytes (freed or not).
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

fn spec(s: &str) -> ThumbSpec {
    s.parse().expect("a size")
}

fn thumb(src: &[u8], size: &str, format: ThumbFormat) -> Result<Vec<u8>, ThumbError> {
    ImageThumbnailer::default().make(src, &spec(size), format, &ImageLimits::default())
}

fn thumb_ok(src: &[u8], size: &str, format: ThumbFormat) -> DynamicImage {
    let out = thumb(src, size, format).unwrap_or_else(|e| panic!("{size}: {e}"));
    let want = match format {
        ThumbFormat::WebP => ImageFormat::WebP,
        ThumbFormat::Jpeg => ImageFormat::Jpeg,
        ThumbFormat::Png => ImageFormat::Png,
    };
    assert_eq!(image::guess_format(&out).ok(), Some(want), "{size}");
    image::load_from_memory(&out).expect("the thumbnail decodes")
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .expect("encode");
    out
}

/// Three bands, top to bottom (`vertical`) or left to right: red, green, blue.
fn bands(width: u32, height: u32, vertical: bool) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (pos, len) = if vertical { (y, height) } else { (x, width) };
        Rgb([RED, GREEN, BLUE][(pos * 3 / len) as usize])
    })
}

fn near(img: &DynamicImage, x: u32, y: u32, want: [u8; 3]) -> bool {
    let p = img.to_rgb8().get_pixel(x, y).0;
    p.iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 48)
}

#[track_caller]
fn assert_colour(img: &DynamicImage, x: u32, y: u32, want: [u8; 3], what: &str) {
    assert!(
        near(img, x, y, want),
        "{what}: pixel ({x},{y}) is {:?}, not near {want:?}",
        img.to_rgb8().get_pixel(x, y).0
    );
}

#[test]
fn every_size_gives_its_dimensions_and_its_part_of_the_image() {
    // 120x360: a red, a green and a blue square, top to bottom.
    let tall = encode(&bands(120, 360, true).into(), ImageFormat::Png);
    for (size, want) in [("60x60t", RED), ("60x60", GREEN), ("60x60b", BLUE)] {
        let t = thumb_ok(&tall, size, ThumbFormat::Png);
        assert_eq!((t.width(), t.height()), (60, 60), "{size}");
        for (x, y) in [(5, 5), (30, 30), (54, 54), (54, 5), (5, 54)] {
            assert_colour(&t, x, y, want, size);
        }
    }
    // Fit and keep-ratio sizes keep every band.
    for (size, w, h) in [("60x60f", 20, 60), ("0x90", 30, 90), ("30x0", 30, 90)] {
        let t = thumb_ok(&tall, size, ThumbFormat::Png);
        assert_eq!((t.width(), t.height()), (w, h), "{size}");
        assert_colour(&t, w / 2, h / 6, RED, size);
        assert_colour(&t, w / 2, h / 2, GREEN, size);
        assert_colour(&t, w / 2, h * 5 / 6, BLUE, size);
    }
    // Never enlarged by a fit.
    let t = thumb_ok(&tall, "500x500f", ThumbFormat::Png);
    assert_eq!((t.width(), t.height()), (120, 360));

    // 360x120, red, green, blue left to right: every crop keeps the middle.
    let wide = encode(&bands(360, 120, false).into(), ImageFormat::Png);
    for size in ["60x60t", "60x60", "60x60b"] {
        let t = thumb_ok(&wide, size, ThumbFormat::Png);
        assert_eq!((t.width(), t.height()), (60, 60), "{size}");
        assert_colour(&t, 5, 30, GREEN, size);
        assert_colour(&t, 54, 30, GREEN, size);
    }
    // A crop of another ratio: 90x30 of the tall image takes a 120x40 band.
    let t = thumb_ok(&tall, "90x30t", ThumbFormat::Png);
    assert_eq!((t.width(), t.height()), (90, 30));
    assert_colour(&t, 45, 15, RED, "90x30t");
    let t = thumb_ok(&tall, "90x30b", ThumbFormat::Png);
    assert_colour(&t, 45, 15, BLUE, "90x30b");
}

/// `jpeg` with an APP1 Exif segment saying `orientation`, right after its SOI.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian, IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied_before_resizing() {
    // 64x32 as stored: red on the left, blue on the right.
    let stored = RgbImage::from_fn(64, 32, |x, _| Rgb(if x < 32 { RED } else { BLUE }));
    let plain = jpeg(&stored, 95);
    // 6: turn 90° clockwise (the left edge goes to the top); 8: counter-clockwise;
    // 3: half a turn. The result is 32 wide either way ("32x0").
    let cases: [(u16, u32, [u8; 3], [u8; 3]); 4] = [
        (1, 16, RED, BLUE),
        (6, 64, RED, BLUE),
        (8, 64, BLUE, RED),
        (3, 16, BLUE, RED),
    ];
    for (o, h, first, last) in cases {
        let src = with_orientation(&plain, o);
        let t = thumb_ok(&src, "32x0", ThumbFormat::Png);
        assert_eq!((t.width(), t.height()), (32, h), "orientation {o}");
        if h > 32 {
            assert_colour(&t, 16, 8, first, &format!("orientation {o}, top"));
            assert_colour(&t, 16, h - 8, last, &format!("orientation {o}, bottom"));
        } else {
            assert_colour(&t, 4, 8, first, &format!("orientation {o}, left"));
            assert_colour(&t, 28, 8, last, &format!("orientation {o}, right"));
        }
    }
}

#[test]
fn formats_sources_and_transparency() {
    let photo = sample::photo(320, 240);
    let jpg = jpeg(&photo, 90);
    for format in ThumbFormat::ALL {
        let t = thumb_ok(&jpg, "100x100", format);
        assert_eq!((t.width(), t.height()), (100, 100), "{format:?}");
    }
    // Half transparent: the left half clear, the right half opaque green.
    let rgba = RgbaImage::from_fn(80, 80, |x, _| {
        Rgba(if x < 40 {
            [0, 0, 0, 0]
        } else {
            [0, 255, 0, 255]
        })
    });
    let png = encode(&rgba.clone().into(), ImageFormat::Png);
    let t = thumb_ok(&png, "40x40", ThumbFormat::Png);
    assert!(t.color().has_alpha(), "a PNG thumb keeps transparency");
    assert_eq!(t.to_rgba8().get_pixel(4, 20).0[3], 0);
    assert_eq!(t.to_rgba8().get_pixel(36, 20).0, [0, 255, 0, 255]);
    let t = thumb_ok(&png, "40x40", ThumbFormat::WebP);
    assert!(t.to_rgba8().get_pixel(4, 20).0[3] < 16, "WebP keeps it too");
    let t = thumb_ok(&png, "40x40", ThumbFormat::Jpeg);
    assert_colour(&t, 4, 20, WHITE, "JPEG: transparency over white");
    assert_colour(&t, 36, 20, GREEN, "JPEG: the opaque half");

    // A GIF gives its first frame; a WebP source reads too.
    let mut gif = Vec::new();
    GifEncoder::new(&mut gif)
        .encode_frames([RED, BLUE].map(|c| {
            image::Frame::new(RgbaImage::from_pixel(50, 50, Rgba([c[0], c[1], c[2], 255])))
        }))
        .expect("gif");
    let t = thumb_ok(&gif, "20x20", ThumbFormat::Png);
    assert_colour(&t, 10, 10, RED, "the GIF's first frame");
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp)
        .encode(rgba.as_raw(), 80, 80, image::ExtendedColorType::Rgba8)
        .expect("webp");
    let t = thumb_ok(&webp, "40x20", ThumbFormat::Png);
    assert_eq!((t.width(), t.height()), (40, 20));
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

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A 65-byte PNG whose header claims `width` x `height` (RGB, 8 bits).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// `jpeg` with its frame header saying `width` x `height`.
fn jpeg_claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG");
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

/// A GIF whose screen and one frame claim 65535x65535.
fn gif_claiming() -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0]);
    out.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    out.extend_from_slice(&[2, 2, 0x4C, 0x01, 0, 0x3B]);
    out
}

#[track_caller]
fn assert_too_large(r: Result<Vec<u8>, ThumbError>, w: u32, h: u32) {
    match r {
        Err(e @ ThumbError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (w, h));
            let e: Error = e.into();
            assert_eq!((e.code.as_str(), e.status()), ("IMAGE_TOO_LARGE", 413));
        }
        other => panic!("expected IMAGE_TOO_LARGE, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn bombs_are_refused_from_their_header_without_decoding() {
    let t = ImageThumbnailer::default();
    let limits = ImageLimits::default();
    let small_jpeg = jpeg(&sample::photo(64, 48), 80);
    let bombs = [
        (png_claiming(100_000, 100_000), 100_000, 100_000),
        // Within the sides (16384), over the pixels (40 M).
        (png_claiming(16_000, 16_000), 16_000, 16_000),
        (jpeg_claiming(&small_jpeg, 65_000, 65_000), 65_000, 65_000),
        (gif_claiming(), 65_535, 65_535),
    ];
    for (src, w, h) in bombs {
        assert!(src.len() < 2_000);
        for format in ThumbFormat::ALL {
            let (r, bytes) = allocated_by(|| t.make(&src, &spec("100x100"), format, &limits));
            assert_too_large(r, w, h);
            assert!(
                bytes < 1 << 20,
                "{w}x{h}: {bytes} bytes allocated to refuse it"
            );
        }
    }
    // A real one: 2000x2000 black pixels deflate to a few KB; under a 1 MP limit it is
    // refused before a byte of it is inflated.
    let black = encode(
        &DynamicImage::ImageLuma8(image::GrayImage::new(2000, 2000)),
        ImageFormat::Png,
    );
    assert!(black.len() < 50_000, "{} bytes", black.len());
    let tight = ImageLimits {
        max_pixels: 1_000_000,
        ..limits
    };
    let (r, bytes) = allocated_by(|| t.make(&black, &spec("100x100"), ThumbFormat::Png, &tight));
    assert_too_large(r, 2000, 2000);
    assert!(bytes < 1 << 20, "{bytes} bytes allocated to refuse it");
    // And within the limits it is made.
    assert!(
        t.make(&black, &spec("100x100"), ThumbFormat::Png, &limits)
            .is_ok()
    );
}

#[track_caller]
fn assert_invalid(r: Result<Vec<u8>, ThumbError>, what: &str) {
    match r {
        Err(e @ ThumbError::Invalid(_)) => {
            let e: Error = e.into();
            assert_eq!(
                (e.code.as_str(), e.status()),
                ("IMAGE_INVALID", 400),
                "{what}"
            );
        }
        other => panic!(
            "{what}: expected IMAGE_INVALID, got {:?}",
            other.map(|v| v.len())
        ),
    }
}

#[test]
fn truncated_and_corrupt_files_are_invalid() {
    let photo = sample::photo(200, 150);
    let png = encode(&photo.clone().into(), ImageFormat::Png);
    let jpg = jpeg(&photo, 90);
    let mut gif = Vec::new();
    GifEncoder::new(&mut gif)
        .encode(
            DynamicImage::from(photo.clone()).to_rgba8().as_raw(),
            200,
            150,
            image::ExtendedColorType::Rgba8,
        )
        .expect("gif");
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp)
        .encode(photo.as_raw(), 200, 150, image::ExtendedColorType::Rgb8)
        .expect("webp");
    for (name, src) in [
        ("PNG", &png),
        ("JPEG", &jpg),
        ("GIF", &gif),
        ("WebP", &webp),
    ] {
        for cut in [src.len() / 2, 40, 12] {
            assert_invalid(
                thumb(&src[..cut], "100x100", ThumbFormat::Png),
                &format!("{name} cut at {cut} of {} bytes", src.len()),
            );
        }
    }
    // A cut JPEG is found cut even with a whole JPEG (an EXIF thumbnail) inside it, and
    // bytes after the end marker are allowed.
    let inner = jpeg(&sample::photo(16, 16), 80);
    let mut with_thumb = jpg[..2].to_vec();
    with_thumb.extend_from_slice(&[0xFF, 0xE1]);
    with_thumb.extend_from_slice(&((inner.len() + 8) as u16).to_be_bytes());
    with_thumb.extend_from_slice(b"Exif\0\0");
    with_thumb.extend_from_slice(&inner);
    with_thumb.extend_from_slice(&jpg[2..]);
    assert!(yunqiao_images::jpeg_complete(&with_thumb));
    assert!(!yunqiao_images::jpeg_complete(
        &with_thumb[..with_thumb.len() - 2]
    ));
    assert_invalid(
        thumb(
            &with_thumb[..with_thumb.len() - 100],
            "100x100",
            ThumbFormat::Png,
        ),
        "a cut JPEG with a whole thumbnail inside",
    );
    let mut trailing = jpg.clone();
    trailing.extend_from_slice(b"\0\0trailing bytes");
    assert!(thumb(&trailing, "100x100", ThumbFormat::Png).is_ok());
    // Bytes overwritten in the middle of a PNG's pixel data (its CRC no longer matches).
    let mut bad = png.clone();
    let mid = bad.len() / 2;
    bad[mid..mid + 64].fill(0x55);
    assert_invalid(thumb(&bad, "100x100", ThumbFormat::Png), "corrupt PNG");
    for (what, src) in [
        ("empty", &b""[..]),
        ("text", b"hello, world"),
        ("a PDF", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
        ("a PNG signature only", b"\x89PNG\r\n\x1a\n"),
        (
            "a BMP (not read here)",
            b"BM\x36\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0",
        ),
    ] {
        assert_invalid(thumb(src, "100x100", ThumbFormat::Jpeg), what);
    }
}

#[test]
fn a_bomb_is_refused_while_other_thumbnails_are_made() {
    let t = Arc::new(ImageThumbnailer::default());
    let photo = Arc::new(jpeg(&sample::photo(400, 300), 85));
    let bombs = Arc::new([
        png_claiming(100_000, 100_000),
        png_claiming(16_000, 16_000),
        gif_claiming(),
    ]);
    let limits = ImageLimits::default();
    let bomber = {
        let (t, bombs) = (t.clone(), bombs.clone());
        std::thread::spawn(move || {
            for i in 0..300 {
                let r = t.make(&bombs[i % 3], &spec("100x100"), ThumbFormat::WebP, &limits);
                assert!(matches!(r, Err(ThumbError::TooLarge { .. })));
            }
        })
    };
    let makers: Vec<_> = (0..2)
        .map(|_| {
            let (t, photo) = (t.clone(), photo.clone());
            std::thread::spawn(move || {
                for format in ThumbFormat::ALL {
                    let out = t.make(&photo, &spec("100x100"), format, &limits);
                    assert!(out.is_ok_and(|b| !b.is_empty()), "{format:?}");
                }
            })
        })
        .collect();
    bomber.join().expect("the bombs were refused");
    for m in makers {
        m.join().expect("the thumbnails were made");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_worker_a_bomb_gets_its_error_and_the_others_their_thumbs() {
    let worker = ThumbWorker::new(
        Arc::new(ImageThumbnailer::default()),
        &ThumbsConfig::default(),
    );
    let photo = jpeg(&sample::photo(400, 300), 85);
    let s = spec("100x100");
    let (bomb, truncated, a, b) = tokio::join!(
        worker.make(png_claiming(100_000, 100_000), s, ThumbFormat::WebP),
        worker.make(photo[..photo.len() / 3].to_vec(), s, ThumbFormat::WebP),
        worker.make(photo.clone(), s, ThumbFormat::WebP),
        worker.make(photo.clone(), s, ThumbFormat::Jpeg),
    );
    assert_too_large(bomb, 100_000, 100_000);
    assert_invalid(truncated, "truncated through the worker");
    assert!(a.is_ok() && b.is_ok());
}

/// Thumbnail sizes of a photo-like 1600x1200 JPEG, per format (`--nocapture` shows them).
#[test]
fn webp_thumbs_are_smaller_than_png() {
    let src = jpeg(&sample::photo(1600, 1200), 85);
    let t = ImageThumbnailer::default();
    let limits = ImageLimits::default();
    println!("source: 1600x1200 JPEG q85, {} bytes", src.len());
    for size in ["200x200", "400x0"] {
        let mut got = Vec::new();
        for format in ThumbFormat::ALL {
            let out = t.make(&src, &spec(size), format, &limits).expect("thumb");
            got.push((format, out.len()));
        }
        // What `image` alone writes (lossless WebP), for comparison.
        let png = t
            .make(&src, &spec(size), ThumbFormat::Png, &limits)
            .expect("thumb");
        let rgb = image::load_from_memory(&png).expect("png").to_rgb8();
        let mut lossless = Vec::new();
        WebPEncoder::new_lossless(&mut lossless)
            .encode(
                rgb.as_raw(),
                rgb.width(),
                rgb.height(),
                image::ExtendedColorType::Rgb8,
            )
            .expect("webp");
        let size_of = |f| got.iter().find(|(g, _)| *g == f).map_or(0, |(_, n)| *n);
        let (webp, jpg, png) = (
            size_of(ThumbFormat::WebP),
            size_of(ThumbFormat::Jpeg),
            size_of(ThumbFormat::Png),
        );
        println!(
            "{size} ({}x{}): WebP (lossy q80) {webp} B, JPEG q82 {jpg} B, PNG {png} B ({:.1}x the WebP), lossless WebP {} B",
            rgb.width(),
            rgb.height(),
            png as f64 / webp as f64,
            lossless.len()
        );
        assert!(webp < jpg && jpg < png, "{size}: {got:?}");
        assert!(webp < lossless.len());
    }
}
