//! What the terminal can show, and a theme brought down to it: true colour to 256 to 16
//! colours by `COLORTERM` and `TERM`, no colour at all under `NO_COLOR`, ASCII symbols when the
//! locale is not UTF-8.

use ratatui::style::{Color, Modifier, Style};

use super::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    None,
    Sixteen,
    Palette256,
    TrueColor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    pub depth: Depth,
    pub utf8: bool,
}

impl Terminal {
    pub fn from_env() -> Terminal {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Terminal::from_vars(&var)
    }

    /// From environment variables as `var` reads them (a closure, so tests pass their own).
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Terminal {
        let colorterm = var("COLORTERM").unwrap_or_default().to_lowercase();
        let term = var("TERM").unwrap_or_default().to_lowercase();
        let depth = if var("NO_COLOR").is_some() || term == "dumb" {
            Depth::None
        } else if colorterm == "truecolor" || colorterm == "24bit" {
            Depth::TrueColor
        } else if term.contains("256color") {
            Depth::Palette256
        } else {
            Depth::Sixteen
        };
        // The first of LC_ALL, LC_CTYPE, LANG that is set decides, as in C's setlocale.
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|v| var(v))
            .unwrap_or_default()
            .to_lowercase();
        let utf8 = locale.contains("utf-8") || locale.contains("utf8");
        Terminal { depth, utf8 }
    }
}

/// `theme` as this terminal can draw it.
pub fn adapt(mut theme: Theme, terminal: &Terminal) -> Theme {
    theme.ascii = !terminal.utf8;
    let map = |style: Style| downgrade_style(style, terminal.depth);
    theme.map_styles(&map);
    theme
}

fn downgrade_style(mut style: Style, depth: Depth) -> Style {
    if depth == Depth::None {
        // Without colour, a coloured background badge would vanish: reverse video keeps it.
        let had_bg = style.bg.is_some_and(|c| c != Color::Reset);
        style.fg = None;
        style.bg = None;
        if had_bg {
            style = style.add_modifier(Modifier::REVERSED);
        }
        return style;
    }
    style.fg = style.fg.map(|c| downgrade(c, depth));
    style.bg = style.bg.map(|c| downgrade(c, depth));
    style
}

pub fn downgrade(color: Color, depth: Depth) -> Color {
    match (color, depth) {
        (Color::Rgb(r, g, b), Depth::Palette256) => Color::Indexed(rgb_to_256(r, g, b)),
        (Color::Rgb(r, g, b), Depth::Sixteen) => rgb_to_16(r, g, b),
        (Color::Indexed(i), Depth::Sixteen) if i >= 16 => {
            let (r, g, b) = index_to_rgb(i);
            rgb_to_16(r, g, b)
        }
        (c, _) => c,
    }
}

/// The nearest of the xterm 6×6×6 cube and the grey ramp.
fn rgb_to_256(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| -> u8 {
        if v < 48 {
            0
        } else if v < 115 {
            1
        } else {
            (v - 35) / 40
        }
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube = 16 + 36 * ri + 6 * gi + bi;
    let steps = [0u8, 95, 135, 175, 215, 255];
    let cube_rgb = (steps[ri as usize], steps[gi as usize], steps[bi as usize]);
    let avg = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let grey_i = if avg > 238 {
        23
    } else {
        avg.saturating_sub(3) / 10
    };
    let grey_v = (8 + grey_i * 10) as u8;
    let grey = 232 + grey_i as u8;
    if dist((r, g, b), (grey_v, grey_v, grey_v)) < dist((r, g, b), cube_rgb) {
        grey
    } else {
        cube
    }
}

fn index_to_rgb(i: u8) -> (u8, u8, u8) {
    if i >= 232 {
        let v = 8 + (i - 232) * 10;
        return (v, v, v);
    }
    let i = i - 16;
    let steps = [0u8, 95, 135, 175, 215, 255];
    (
        steps[usize::from(i / 36)],
        steps[usize::from((i / 6) % 6)],
        steps[usize::from(i % 6)],
    )
}

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    d(a.0, b.0).pow(2) + d(a.1, b.1).pow(2) + d(a.2, b.2).pow(2)
}

/// The nearest of the 16 ANSI colours (xterm's values).
fn rgb_to_16(r: u8, g: u8, b: u8) -> Color {
    const ANSI: [(Color, (u8, u8, u8)); 16] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (205, 0, 0)),
        (Color::Green, (0, 205, 0)),
        (Color::Yellow, (205, 205, 0)),
        (Color::Blue, (0, 0, 238)),
        (Color::Magenta, (205, 0, 205)),
        (Color::Cyan, (0, 205, 205)),
        (Color::Gray, (229, 229, 229)),
        (Color::DarkGray, (127, 127, 127)),
        (Color::LightRed, (255, 0, 0)),
        (Color::LightGreen, (0, 255, 0)),
        (Color::LightYellow, (255, 255, 0)),
        (Color::LightBlue, (92, 92, 255)),
        (Color::LightMagenta, (255, 0, 255)),
        (Color::LightCyan, (0, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    ANSI.iter()
        .min_by_key(|(_, rgb)| dist((r, g, b), *rgb))
        .map_or(Color::Reset, |(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(vars: &[(&str, &str)]) -> Terminal {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Terminal::from_vars(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn depth_and_locale_come_from_the_environment() {
        let t = term(&[("COLORTERM", "truecolor"), ("LANG", "en_US.UTF-8")]);
        assert_eq!(
            t,
            Terminal {
                depth: Depth::TrueColor,
                utf8: true
            }
        );
        let t = term(&[("TERM", "xterm-256color"), ("LANG", "C")]);
        assert_eq!(
            t,
            Terminal {
                depth: Depth::Palette256,
                utf8: false
            }
        );
        assert_eq!(term(&[("TERM", "xterm")]).depth, Depth::Sixteen);
        let t = term(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")]);
        assert_eq!(t.depth, Depth::None);
        // LC_ALL wins over LANG.
        assert!(!term(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")]).utf8);
    }

    #[test]
    fn rgb_comes_down_to_the_nearest_palette_colour() {
        assert_eq!(
            downgrade(Color::Rgb(255, 0, 0), Depth::Palette256),
            Color::Indexed(196)
        );
        assert_eq!(
            downgrade(Color::Rgb(0x30, 0x34, 0x3c), Depth::Palette256),
            Color::Indexed(237)
        );
        assert_eq!(
            downgrade(Color::Rgb(250, 10, 10), Depth::Sixteen),
            Color::LightRed
        );
        assert_eq!(
            downgrade(Color::Indexed(196), Depth::Sixteen),
            Color::LightRed
        );
        assert_eq!(downgrade(Color::Green, Depth::Sixteen), Color::Green);
        assert_eq!(
            downgrade(Color::Rgb(1, 2, 3), Depth::TrueColor),
            Color::Rgb(1, 2, 3)
        );
    }

    #[test]
    fn no_color_strips_colour_and_keeps_badges_reversed() {
        let t = Terminal {
            depth: Depth::None,
            utf8: true,
        };
        let theme = adapt(Theme::builtin_default(), &t);
        assert_eq!(theme.ok.fg, None);
        // flash_error is white on red in the default theme: a badge.
        assert!(theme.flash_error.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(theme.flash_error.bg, None);
        assert!(!theme.ascii);
        let t = Terminal {
            depth: Depth::TrueColor,
            utf8: false,
        };
        assert!(adapt(Theme::builtin_default(), &t).ascii);
    }
}
