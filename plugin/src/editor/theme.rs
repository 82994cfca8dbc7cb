//! Colours of the editor. The curves' colours are also what the headless screenshot
//! test looks for (`tests/editor`), so they are drawn opaque and exact.

use egui::Color32;

/// The "after" LTAS curve (the snapshot rendered through the baked settings), sRGB.
pub const AFTER_LTAS: [u8; 3] = [0x36, 0xC5, 0xF0];
/// The IR magnitude curve, sRGB.
pub const IR_CURVE: [u8; 3] = [0xF2, 0xA5, 0x41];
/// The A/B button's fill while A/B can switch, sRGB.
pub const AB_ACCENT: [u8; 3] = [0x8E, 0x6C, 0xEF];

/// `rgb` as an opaque egui colour.
pub const fn color(rgb: [u8; 3]) -> Color32 {
    Color32::from_rgb(rgb[0], rgb[1], rgb[2])
}

/// The "before" LTAS curve (the snapshot as recorded).
pub const BEFORE_LTAS: Color32 = Color32::from_rgb(0x9A, 0x9A, 0xA6);
/// The EQ magnitude curve.
pub const EQ_CURVE: Color32 = Color32::from_rgb(0x7B, 0xD8, 0x8F);
/// The compressor's static curve.
pub const COMP_CURVE: Color32 = Color32::from_rgb(0xE8, 0x6A, 0x92);
/// The IR envelope (time domain).
pub const IR_ENVELOPE: Color32 = Color32::from_rgb(0xC9, 0x8B, 0x2E);
/// Grid lines and axis labels.
pub const GRID: Color32 = Color32::from_rgb(0x3A, 0x3D, 0x45);
/// Axis labels.
pub const LABEL: Color32 = Color32::from_rgb(0xA8, 0xAC, 0xB8);
/// Plot background.
pub const PLOT_BG: Color32 = Color32::from_rgb(0x1B, 0x1D, 0x22);
/// Meter fill below −6 dBFS / within the loudness range.
pub const METER_OK: Color32 = Color32::from_rgb(0x4C, 0xC3, 0x6E);
/// Meter fill near full scale.
pub const METER_HOT: Color32 = Color32::from_rgb(0xE5, 0x48, 0x4D);
/// Error text.
pub const ERROR: Color32 = Color32::from_rgb(0xFF, 0x7A, 0x70);
