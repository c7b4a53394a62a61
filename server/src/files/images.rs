//! Making an uploaded image safe to show: decoded with limits (pixels, sides, memory: a
//! decompression bomb is refused before anything large is allocated), turned upright by its EXIF
//! orientation, and re-encoded from its pixels alone, so no metadata (EXIF, GPS, comments) and
//! nothing after the image's end survives. Its thumbnail is made from the same pixels. CPU-bound
//! and blocking: callers run it off the async runtime, a bounded number at a time.

use super::sniff::Kind;
use app::protocol::{MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, THUMBNAIL_MAX_SIDE};
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Quality of a re-encoded JPEG, and of every thumbnail without transparency.
const JPEG_QUALITY: u8 = 90;
const THUMBNAIL_QUALITY: u8 = 80;
/// Most memory one decode may allocate: a largest image in RGBA, and some room.
const MAX_DECODE_BYTES: u64 = MAX_IMAGE_PIXELS * 4 + 16 * 1024 * 1024;
/// Pixels of all frames of an animated GIF together (what decoding and re-encoding it costs).
const MAX_ANIMATION_PIXELS: u64 = 4 * MAX_IMAGE_PIXELS;

/// An image made safe, and its thumbnail.
pub struct Processed {
    /// The re-encoded image, in the format it came in.
    pub bytes: Vec<u8>,
    /// After the orientation was applied.
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
    /// `image/jpeg`, or `image/png` when the image has transparency.
    pub thumbnail_type: &'static str,
    /// Where the time went (the upload's answer says so in `Server-Timing`).
    pub timings: Timings,
}

/// Milliseconds spent: decoding (with the orientation), making the thumbnail from the decoded
/// pixels, and re-encoding the image (the last two side by side).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub decode_ms: f64,
    pub thumbnail_ms: f64,
    pub encode_ms: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("the image is too large: {width} x {height} pixels (at most {MAX_IMAGE_SIDE} a side and {MAX_IMAGE_PIXELS} in all)")]
    TooLarge { width: u32, height: u32 },
    #[error("the animation has too many frames for its size")]
    TooManyFrames,
    #[error("the image cannot be read: {0}")]
    Undecodable(String),
}

fn undecodable(error: impl std::fmt::Display) -> ImageError {
    ImageError::Undecodable(error.to_string())
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Refuses sizes past the limits, before a pixel is decoded.
fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Undecodable("the image has no pixels".into()));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageError::TooLarge { width, height });
    }
    Ok(())
}

fn format_of(kind: Kind) -> Option<ImageFormat> {
    match kind {
        Kind::Jpeg => Some(ImageFormat::Jpeg),
        Kind::Png => Some(ImageFormat::Png),
        Kind::Gif => Some(ImageFormat::Gif),
        Kind::Webp => Some(ImageFormat::WebP),
        Kind::Other => None,
    }
}

/// Decodes `data` (an image of `kind`, as sniffed) within the limits and returns it re-encoded
/// with its thumbnail. An animated GIF keeps its frames; an animated WebP keeps its first.
pub fn process(kind: Kind, data: &[u8]) -> Result<Processed, ImageError> {
    let started = std::time::Instant::now();
    let format = format_of(kind).ok_or_else(|| ImageError::Undecodable("not an image".into()))?;
    let mut reader = ImageReader::with_format(Cursor::new(data), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let orientation = decoder.orientation().map_err(undecodable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    let decoded = started.elapsed();
    // The thumbnail on a second thread while the image is encoded again (both only read it).
    let millis = |d: std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let (bytes, thumbnail) = std::thread::scope(|scope| {
        let thumbnail = scope.spawn(|| {
            let started = std::time::Instant::now();
            thumbnail_of(&image).map(|made| (made, started.elapsed()))
        });
        let started = std::time::Instant::now();
        let bytes = match kind {
            Kind::Gif => reencode_gif(data),
            _ => encode(&image, kind),
        };
        let encoded = started.elapsed();
        let thumbnail = thumbnail.join().unwrap_or_else(|_| Err(undecodable("the thumbnail failed")));
        (bytes.map(|bytes| (bytes, encoded)), thumbnail)
    });
    let ((bytes, encoded), ((thumbnail, thumbnail_type), thumbnailed)) = (bytes?, thumbnail?);
    let timings = Timings { decode_ms: millis(decoded), thumbnail_ms: millis(thumbnailed), encode_ms: millis(encoded) };
    tracing::debug!(width, height, ?timings, "image processed");
    Ok(Processed { bytes, width: image.width(), height: image.height(), thumbnail, thumbnail_type, timings })
}

/// A limit hit while decoding is the image's size, not a broken file.
fn decode_error(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Limits(_) => ImageError::TooLarge { width: 0, height: 0 },
        other => undecodable(other),
    }
}

/// `image` in `kind`'s format, from its pixels alone.
fn encode(image: &DynamicImage, kind: Kind) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    match kind {
        Kind::Jpeg => return jpeg(image, JPEG_QUALITY),
        Kind::Png => {
            let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            image.write_with_encoder(encoder).map_err(undecodable)?;
        }
        Kind::Webp => {
            let rgba = if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8())
            };
            rgba.write_with_encoder(WebPEncoder::new_lossless(&mut out)).map_err(undecodable)?;
        }
        Kind::Gif | Kind::Other => return Err(ImageError::Undecodable("not re-encoded here".into())),
    }
    Ok(out)
}

/// `image` as a baseline JPEG (`jpeg-encoder`: several times faster than `image`'s own), from
/// its pixels alone: no metadata segment is written.
fn jpeg(image: &DynamicImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    let converted;
    let rgb = match image.as_rgb8() {
        Some(rgb) => rgb,
        None => {
            converted = image.to_rgb8();
            &converted
        }
    };
    let (width, height) =
        (u16::try_from(rgb.width()).map_err(undecodable)?, u16::try_from(rgb.height()).map_err(undecodable)?);
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(undecodable)?;
    Ok(out)
}

/// Every frame of a GIF, decoded and encoded again one at a time (at most
/// [`MAX_ANIMATION_PIXELS`] in all), looping as GIFs do.
fn reencode_gif(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut decoder = GifDecoder::new(Cursor::new(data)).map_err(undecodable)?;
    decoder.set_limits(limits()).map_err(decode_error)?;
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        encoder.set_repeat(Repeat::Infinite).map_err(undecodable)?;
        let mut pixels = 0u64;
        for frame in decoder.into_frames() {
            let frame = frame.map_err(decode_error)?;
            let buffer = frame.buffer();
            pixels += u64::from(buffer.width()) * u64::from(buffer.height());
            if pixels > MAX_ANIMATION_PIXELS {
                return Err(ImageError::TooManyFrames);
            }
            encoder.encode_frame(frame).map_err(undecodable)?;
        }
    }
    Ok(out)
}

/// At most [`THUMBNAIL_MAX_SIDE`] a side, aspect kept (never enlarged): JPEG, or PNG to keep
/// transparency.
fn thumbnail_of(image: &DynamicImage) -> Result<(Vec<u8>, &'static str), ImageError> {
    let small = if image.width() > THUMBNAIL_MAX_SIDE || image.height() > THUMBNAIL_MAX_SIDE {
        image.thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE)
    } else {
        image.clone()
    };
    if small.color().has_alpha() {
        let mut out = Vec::new();
        let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive);
        DynamicImage::ImageRgba8(small.to_rgba8()).write_with_encoder(encoder).map_err(undecodable)?;
        Ok((out, "image/png"))
    } else {
        Ok((jpeg(&small, THUMBNAIL_QUALITY)?, "image/jpeg"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        let mut out = Vec::new();
        image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn an_image_is_re_encoded_with_a_small_thumbnail() {
        let processed = process(Kind::Png, &png(1200, 600)).unwrap();
        assert_eq!((processed.width, processed.height), (1200, 600));
        assert_eq!(Kind::of(&processed.bytes), Kind::Png);
        let thumbnail = image::load_from_memory(&processed.thumbnail).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (400, 200));
        assert_eq!(processed.thumbnail_type, "image/jpeg");
    }

    #[test]
    fn trailing_bytes_after_the_image_do_not_survive() {
        let mut data = png(10, 10);
        data.extend_from_slice(b"SECRET-CROPPED-PIXELS");
        let processed = process(Kind::Png, &data).unwrap();
        assert!(!processed.bytes.windows(6).any(|w| w == b"SECRET"));
    }

    #[test]
    fn a_pixel_bomb_is_refused_before_it_is_decoded() {
        // A valid PNG header (its checksum right) claiming 9,000 x 9,000 pixels, and almost no data.
        let mut data = png(1, 1);
        data[16..20].copy_from_slice(&9_000u32.to_be_bytes());
        data[20..24].copy_from_slice(&9_000u32.to_be_bytes());
        let crc = crc32(&data[12..29]);
        data[29..33].copy_from_slice(&crc.to_be_bytes());
        let error = process(Kind::Png, &data).err().unwrap();
        assert!(matches!(error, ImageError::TooLarge { .. }), "{error:?}");
        assert!(check_size(9_000, 9_000).is_err(), "81 megapixels");
        assert!(check_size(10_001, 10).is_err());
        assert!(check_size(6_000, 6_000).is_ok());
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn garbage_that_claims_to_be_an_image_is_undecodable() {
        let error = process(Kind::Jpeg, b"\xff\xd8\xff\xe0 not really a jpeg").err().unwrap();
        assert!(matches!(error, ImageError::Undecodable(_)));
    }
}
