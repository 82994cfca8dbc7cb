//! [`Image`]: an 8-bit RGB screenshot, the measures the screenshot test checks, and
//! PNG output.

use std::collections::HashMap;
use std::path::Path;

use crate::HarnessError;

/// An 8-bit sRGB image, row-major, 3 bytes per pixel (`[r, g, b]`), no padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    /// An image from its pixels.
    ///
    /// # Panics
    /// If `rgb.len() != width * height * 3`.
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Image {
        assert_eq!(
            rgb.len(),
            width as usize * height as usize * 3,
            "{width}×{height} RGB needs {} bytes",
            width as usize * height as usize * 3
        );
        Image { width, height, rgb }
    }

    /// Width, pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height, pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// The raw bytes (`[r, g, b]` per pixel, row-major).
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// The pixel at column `x`, row `y`.
    ///
    /// # Panics
    /// If `(x, y)` is outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "({x}, {y}) outside the image"
        );
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn pixels(&self) -> impl Iterator<Item = [u8; 3]> + '_ {
        self.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]])
    }

    /// Pixels within `tolerance` of `colour` in every channel
    /// (`max |p[c] − colour[c]| ≤ tolerance`). Anti-aliased edges of a line blend
    /// into the background, so a line 2 px wide counts about its length.
    pub fn count_near(&self, colour: [u8; 3], tolerance: u8) -> usize {
        self.pixels()
            .filter(|p| {
                p.iter()
                    .zip(colour)
                    .all(|(&a, b)| a.abs_diff(b) <= tolerance)
            })
            .count()
    }

    /// The most common colour and how many pixels have it.
    pub fn most_common(&self) -> ([u8; 3], usize) {
        let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
        for p in self.pixels() {
            *counts.entry(p).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|&(colour, n)| (n, colour))
            .unwrap_or(([0; 3], 0))
    }

    /// The number of different colours.
    pub fn distinct_colours(&self) -> usize {
        let mut seen: std::collections::HashSet<[u8; 3]> = std::collections::HashSet::new();
        for p in self.pixels() {
            seen.insert(p);
        }
        seen.len()
    }

    /// The fraction (0–1) of pixels that differ from the most common colour: near 0
    /// for a blank (single-colour) image.
    pub fn content_fraction(&self) -> f64 {
        let n = self.pixel_count();
        if n == 0 {
            return 0.0;
        }
        1.0 - self.most_common().1 as f64 / n as f64
    }

    /// The number of pixels that differ (in any channel) between `self` and `other`.
    ///
    /// # Errors
    /// [`HarnessError::ImageSize`] if their sizes differ.
    pub fn diff_count(&self, other: &Image) -> Result<usize, HarnessError> {
        if (self.width, self.height) != (other.width, other.height) {
            return Err(HarnessError::ImageSize(
                self.width,
                self.height,
                other.width,
                other.height,
            ));
        }
        Ok(self
            .pixels()
            .zip(other.pixels())
            .filter(|(a, b)| a != b)
            .count())
    }

    /// The part of the image inside `x..x + width`, `y..y + height`, clipped to the
    /// image.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Image {
        let x0 = x.min(self.width);
        let y0 = y.min(self.height);
        let x1 = x.saturating_add(width).min(self.width);
        let y1 = y.saturating_add(height).min(self.height);
        let mut rgb = Vec::with_capacity((x1 - x0) as usize * (y1 - y0) as usize * 3);
        for row in y0..y1 {
            let start = (row as usize * self.width as usize + x0 as usize) * 3;
            rgb.extend_from_slice(&self.rgb[start..start + (x1 - x0) as usize * 3]);
        }
        Image::new(x1 - x0, y1 - y0, rgb)
    }

    /// Writes the image as an 8-bit RGB PNG, creating the parent directory.
    ///
    /// # Errors
    /// [`HarnessError::File`] if the file cannot be written or encoded.
    pub fn write_png(&self, path: &Path) -> Result<(), HarnessError> {
        let err = |message: String| HarnessError::File {
            action: "write",
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
        let mut writer = encoder.write_header().map_err(|e| err(e.to_string()))?;
        writer
            .write_image_data(&self.rgb)
            .map_err(|e| err(e.to_string()))?;
        writer.finish().map_err(|e| err(e.to_string()))
    }

    /// Reads an 8-bit RGB or RGBA PNG (alpha dropped).
    ///
    /// # Errors
    /// [`HarnessError::File`] if it cannot be read or decoded, or has another colour
    /// type or depth.
    pub fn read_png(path: &Path) -> Result<Image, HarnessError> {
        let err = |message: String| HarnessError::File {
            action: "read",
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .map_err(|e| err(e.to_string()))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| err(e.to_string()))?;
        let channels = match (info.color_type, info.bit_depth) {
            (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
            (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
            other => return Err(err(format!("unsupported PNG format {other:?}"))),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Ok(Image::new(info.width, info.height, rgb))
    }
}
