//! The timeline as a PNG, for pasting into an after-action report:
//! the SVG rasterised by resvg (pure Rust), with the system's fonts.
//!
//! Fonts are loaded once ([`Fonts::system`]): on Linux, the folders
//! fontconfig names, or `/usr/share/fonts` and the usual others. The SVG
//! asks for DejaVu Sans; where it is missing, the first font found stands
//! in. Where there is no font at all, the PNG is still written, with its
//! lines, shading and legend swatches but no text ([`Png::has_text`] is
//! false, and the caller says so); the SVG beside it keeps every word.
use std::sync::Arc;

use resvg::tiny_skia;
use resvg::usvg::{self, fontdb};

/// The family the SVG names first.
const FAMILY: &str = "DejaVu Sans";

/// The fonts text is drawn with.
#[derive(Debug, Clone)]
pub struct Fonts {
    db: Arc<fontdb::Database>,
    /// The family used for `sans-serif` and for text naming none.
    family: Option<String>,
}

impl Fonts {
    /// The system's fonts.
    pub fn system() -> Fonts {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        Fonts::from_database(db)
    }

    /// No fonts: a PNG without text.
    pub fn none() -> Fonts {
        Fonts::from_database(fontdb::Database::new())
    }

    fn from_database(mut db: fontdb::Database) -> Fonts {
        let query = fontdb::Query {
            families: &[fontdb::Family::Name(FAMILY)],
            ..Default::default()
        };
        let family = if db.query(&query).is_some() {
            Some(FAMILY.to_string())
        } else {
            db.faces()
                .find_map(|f| f.families.first().map(|(name, _)| name.clone()))
        };
        if let Some(f) = &family {
            db.set_sans_serif_family(f.clone());
        }
        Fonts {
            db: Arc::new(db),
            family,
        }
    }

    /// True if there is a font to draw text with.
    pub fn has_text(&self) -> bool {
        self.family.is_some()
    }

    /// The family text is drawn in, if any.
    pub fn family(&self) -> Option<&str> {
        self.family.as_deref()
    }
}

/// A rendered PNG.
#[derive(Debug, Clone)]
pub struct Png {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// False if no font was found: the picture has no text.
    pub has_text: bool,
}

/// Why a PNG could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PngError {
    /// The SVG did not parse (a bug in the plot, not in the run).
    #[error("the timeline SVG does not parse: {0}")]
    Svg(String),
    /// The size is zero or too large to allocate.
    #[error("cannot allocate a {0}×{1} picture")]
    Size(u32, u32),
    /// Encoding failed.
    #[error("cannot encode the PNG: {0}")]
    Encode(String),
}

/// Rasterises `svg` at `scale` (1.0: one pixel per SVG unit).
pub fn render(svg: &str, fonts: &Fonts, scale: f32) -> Result<Png, PngError> {
    let mut options = usvg::Options {
        fontdb: fonts.db.clone(),
        ..Default::default()
    };
    if let Some(f) = &fonts.family {
        options.font_family = f.clone();
    }
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| PngError::Svg(e.to_string()))?;
    let size = tree.size();
    let (width, height) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or(PngError::Size(width, height))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let bytes = pixmap
        .encode_png()
        .map_err(|e| PngError::Encode(e.to_string()))?;
    Ok(Png {
        bytes,
        width,
        height,
        has_text: fonts.has_text(),
    })
}
