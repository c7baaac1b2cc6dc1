//! Styles by semantic role, loaded from `themes/<name>.toml`.
//!
//! State never holds styled text: views ask the theme for a role's style at render time, so a
//! theme can change without re-ingesting anything (the tokio-console lesson).

use std::fmt;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::domain::Health;

/// The builtin default is the shipped file, so the binary renders the same from any directory.
const DEFAULT_TOML: &str = include_str!("../../themes/default.toml");

/// One list of roles generates the file schema, the resolved theme, and the merge between them,
/// so a new role cannot be added to one and forgotten in another.
macro_rules! roles {
    ($($(#[$doc:meta])* $role:ident),* $(,)?) => {
        /// Resolved styles, one per semantic role.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            $($(#[$doc])* pub $role: Style,)*
            /// Draw ASCII stand-ins for the Unicode symbols (a locale that is not UTF-8).
            pub ascii: bool,
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            $($role: Option<StyleSpec>,)*
        }

        impl ThemeFile {
            fn apply(self, base: &Theme) -> Theme {
                Theme {
                    $($role: self.$role.map_or(base.$role, StyleSpec::into_style),)*
                    ascii: base.ascii,
                }
            }

            #[cfg(test)]
            fn missing_roles(&self) -> Vec<&'static str> {
                let mut missing = Vec::new();
                $(if self.$role.is_none() { missing.push(stringify!($role)); })*
                missing
            }
        }

        impl Theme {
            fn unstyled() -> Theme {
                Theme { $($role: Style::new(),)* ascii: false }
            }

            /// Every role's style through `f` (colour depth, `NO_COLOR`).
            pub fn map_styles(&mut self, f: &dyn Fn(Style) -> Style) {
                $(self.$role = f(self.$role);)*
            }
        }
    };
}

roles! {
    ok, degraded, down, needs_reauth, unauthorized, pending,
    /// A token within a minute of expiry.
    warning,
    /// Secondary text, and rows that are merely not configured.
    muted,
    accent, header, selected, border, hint, hint_key,
    flash_info, flash_warn, flash_error,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<ColorSpec>,
    bg: Option<ColorSpec>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

impl StyleSpec {
    fn into_style(self) -> Style {
        let mut style = Style::new();
        if let Some(fg) = self.fg {
            style = style.fg(fg.0);
        }
        if let Some(bg) = self.bg {
            style = style.bg(bg.0);
        }
        let flags = [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.italic, Modifier::ITALIC),
            (self.underlined, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
        ];
        for (on, modifier) in flags {
            if on {
                style = style.add_modifier(modifier);
            }
        }
        style
    }
}

/// Parsing through `TryFrom<String>` keeps the TOML span, so a bad colour is reported at its
/// own line and column rather than at the enclosing table.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct ColorSpec(Color);

impl TryFrom<String> for ColorSpec {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse::<Color>().map(ColorSpec).map_err(|_| {
            format!("unknown colour {s:?} (use a name like \"green\", 0-255, or \"#rrggbb\")")
        })
    }
}

#[derive(Debug)]
pub enum ThemeError {
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `line` and `col` are 1-based.
    Parse {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

impl fmt::Display for ThemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThemeError::NotFound { name, searched } => {
                write!(f, "theme {name:?} not found (looked in:")?;
                for dir in searched {
                    write!(f, " {}", dir.display())?;
                }
                f.write_str(")")
            }
            ThemeError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ThemeError::Parse {
                path,
                line,
                col,
                message,
            } => write!(f, "{}:{line}:{col}: {message}", path.display()),
        }
    }
}

impl std::error::Error for ThemeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ThemeError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Theme {
    pub fn builtin_default() -> Theme {
        // The embedded file is checked by a unit test, so the fallback to plain text can only
        // be reached by a broken build; a console without colour still works.
        parse(
            DEFAULT_TOML,
            Path::new("themes/default.toml"),
            &Theme::unstyled(),
        )
        .unwrap_or_else(|_| Theme::unstyled())
    }

    /// Finds `<dir>/<name>.toml` in the first dir that has it. A `name` that looks like a path
    /// (has a separator or ends in `.toml`) is read as given. Roles a file leaves out come from
    /// the builtin default. `default` always resolves, even when no dir holds the file.
    pub fn load(name: &str, search_dirs: &[PathBuf]) -> Result<Theme, ThemeError> {
        let as_path = Path::new(name);
        if name.ends_with(".toml") || as_path.components().count() > 1 {
            return Theme::load_file(as_path);
        }
        for dir in search_dirs {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                return Theme::load_file(&path);
            }
        }
        if name == "default" {
            return Ok(Theme::builtin_default());
        }
        Err(ThemeError::NotFound {
            name: name.to_owned(),
            searched: search_dirs.to_vec(),
        })
    }

    /// The names `load` finds in `search_dirs`, and `default`, sorted: what an error about a
    /// missing theme offers instead.
    pub fn available(search_dirs: &[PathBuf]) -> Vec<String> {
        let mut names = vec!["default".to_owned()];
        for dir in search_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            names.extend(entries.flatten().filter_map(|e| {
                let path = e.path();
                (path.extension()? == "toml" && path.is_file())
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))?
            }));
        }
        names.sort();
        names.dedup();
        names
    }

    pub fn load_file(path: &Path) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Io {
            path: path.to_owned(),
            source,
        })?;
        parse(&text, path, &Theme::builtin_default())
    }

    pub fn health(&self, health: Health) -> Style {
        match health {
            Health::Up => self.ok,
            Health::Degraded => self.degraded,
            Health::Down => self.down,
            Health::NeedsReauth => self.needs_reauth,
            // As urgent as a dead grant, and the symbol tells them apart.
            Health::AtRisk => self.needs_reauth,
            Health::Unauthorized => self.unauthorized,
            Health::NotConfigured => self.muted,
            Health::Pending => self.pending,
            // Deliberately quiet: an operator chose it; the symbol says so.
            Health::Paused => self.muted,
        }
    }
}

fn parse(text: &str, path: &Path, base: &Theme) -> Result<Theme, ThemeError> {
    parse_file(text, path).map(|file| file.apply(base))
}

fn parse_file(text: &str, path: &Path) -> Result<ThemeFile, ThemeError> {
    toml::from_str::<ThemeFile>(text).map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        let (line, col) = line_col(text, offset);
        ThemeError::Parse {
            path: path.to_owned(),
            line,
            col,
            // toml's messages can span lines; the operator wants one.
            message: err.message().trim().replace('\n', "; "),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn themes_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("themes")
    }

    #[test]
    fn every_shipped_theme_parses_and_sets_every_role() {
        let mut seen = 0;
        for entry in std::fs::read_dir(themes_dir()).expect("themes/ exists") {
            let path = entry.expect("readable dir entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable theme");
            let file = parse_file(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                file.missing_roles(),
                Vec::<&str>::new(),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(
            seen >= 5,
            "expected default, light, high-contrast, colour-blind and mono"
        );
    }

    #[test]
    fn builtin_default_is_the_shipped_file() {
        let loaded = Theme::load("default", &[themes_dir()]).expect("default loads");
        assert_eq!(loaded, Theme::builtin_default());
        assert_ne!(loaded, Theme::unstyled());
        assert_eq!(loaded.ok.fg, Some(Color::Green));
    }

    #[test]
    fn default_resolves_without_any_search_dir() {
        assert_eq!(
            Theme::load("default", &[]).expect("builtin"),
            Theme::builtin_default()
        );
    }

    #[test]
    fn missing_theme_names_the_dirs_searched() {
        let err = Theme::load("nope", &[themes_dir()]).expect_err("not there");
        assert!(
            err.to_string().contains("theme \"nope\" not found"),
            "{err}"
        );
    }

    #[test]
    fn bad_colour_is_one_line_with_position() {
        let text = "ok = { fg = \"green\" }\ndown = { fg = \"gren\" }\n";
        let err = parse_file(text, Path::new("themes/bad.toml")).expect_err("bad colour");
        let msg = err.to_string();
        assert!(msg.starts_with("themes/bad.toml:2:"), "{msg}");
        assert!(msg.contains("unknown colour \"gren\""), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn unknown_role_and_unknown_attribute_are_rejected() {
        let err = parse_file("okay = {}\n", Path::new("t.toml")).expect_err("typo");
        assert!(err.to_string().starts_with("t.toml:1:1:"), "{err}");
        let err = parse_file("ok = { blod = true }\n", Path::new("t.toml")).expect_err("typo");
        assert!(err.to_string().starts_with("t.toml:1:8:"), "{err}");
    }

    #[test]
    fn partial_theme_inherits_from_default_and_hex_works() {
        let theme = parse(
            "ok = { fg = \"#102030\", bold = true }\n",
            Path::new("t.toml"),
            &Theme::builtin_default(),
        )
        .expect("parses");
        assert_eq!(theme.ok.fg, Some(Color::Rgb(0x10, 0x20, 0x30)));
        assert!(theme.ok.add_modifier.contains(Modifier::BOLD));
        assert_eq!(theme.down, Theme::builtin_default().down);
    }
}
