//! QR codes in the terminal with Unicode half blocks (shared by `switchboard auth --device` and the
//! console's re-authorize popup): one character cell holds two modules
//! stacked, so the code is about square in a typical 1:2 cell.
//!
//! *Light* modules are drawn (in the foreground colour) and dark ones left blank: terminals are
//! mostly light-on-dark, and a scanner needs the code's light background. The quiet zone is
//! drawn the same way, so the code stands out against the dark terminal around it.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of light border on every side. The standard asks for 4; 2 scans reliably on a
/// screen and keeps the code small enough for an 80×24 terminal.
pub const QUIET_ZONE: usize = 2;

/// The rendered lines, or `None` when the data does not fit in a QR code.
pub fn render(data: &str) -> Option<Vec<String>> {
    // Low error correction: a screen is not a crumpled label, and L keeps the code smallest.
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    Some(render_modules(width, &|x, y| {
        colors[y * width + x] == Color::Dark
    }))
}

/// Half-block rendering of a `width`×`width` module grid (`dark(x, y)`), with the quiet zone.
pub fn render_modules(width: usize, dark: &dyn Fn(usize, usize) -> bool) -> Vec<String> {
    let size = width + 2 * QUIET_ZONE;
    // Outside the code (the quiet zone, and the padding row under an odd height) is light.
    let light = |x: usize, y: usize| {
        let inside = QUIET_ZONE..QUIET_ZONE + width;
        !(inside.contains(&x) && inside.contains(&y) && dark(x - QUIET_ZONE, y - QUIET_ZONE))
    };
    (0..size)
        .step_by(2)
        .map(|y| {
            (0..size)
                .map(|x| match (light(x, y), light(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a rendering back into (light) modules: the inverse of `render_modules`.
    fn decode(lines: &[String]) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in lines {
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            for c in line.chars() {
                let (t, b) = match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected character {other:?}"),
                };
                top.push(t);
                bottom.push(b);
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    #[test]
    fn renders_every_module_inside_a_quiet_zone() {
        let data = "http://127.0.0.1:8080/device?user_code=BCDF-GHJK";
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L).unwrap();
        let width = code.width();
        let lines = render(data).unwrap();
        let size = width + 2 * QUIET_ZONE;
        // Deterministic size: ceil(size / 2) lines of `size` cells.
        assert_eq!(lines.len(), size.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == size));
        assert_eq!(render(data).unwrap(), lines, "same input, same output");

        let grid = decode(&lines);
        let colors = code.to_colors();
        for y in 0..size {
            for x in 0..size {
                let inside = QUIET_ZONE..QUIET_ZONE + width;
                let expected_light = if inside.contains(&x) && inside.contains(&y) {
                    colors[(y - QUIET_ZONE) * width + (x - QUIET_ZONE)] == Color::Light
                } else {
                    true // the quiet zone
                };
                assert_eq!(grid[y][x], expected_light, "module ({x}, {y})");
            }
        }
        // The finder pattern's corner is dark, right inside the quiet zone.
        assert!(!grid[QUIET_ZONE][QUIET_ZONE]);
    }

    #[test]
    fn odd_sizes_pad_the_last_row_light() {
        // A 1×1 "code" that is dark: 1 + 2×2 = 5 rows, so 3 lines, the last one half padding.
        let lines = render_modules(1, &|_, _| true);
        assert_eq!(lines, ["█████", "██▄██", "█████"]);
    }

    #[test]
    fn data_too_large_for_a_qr_code_is_refused() {
        assert!(render(&"x".repeat(8000)).is_none());
    }
}
