//! Column widths for the fleet table. Narrow terminals lose the least useful information first:
//! the detail column shrinks, transports are abbreviated, then the next refresh, the probe age,
//! the detail, the transport and the p95 go in turn. The status line under the table always shows the selected row's full detail, so
//! nothing becomes unreachable.

use ratatui::text::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Health,
    Name,
    Transport,
    Expires,
    Next,
    Rate,
    P95,
    Age,
    Detail,
}

impl Col {
    pub const fn title(self) -> &'static str {
        match self {
            Col::Health => "HEALTH",
            Col::Name => "CONNECTION",
            Col::Transport => "TRANSPORT",
            Col::Expires => "EXPIRES IN",
            Col::Next => "REFRESH IN",
            Col::Rate => "OK 1H",
            Col::P95 => "P95 1H",
            Col::Age => "PROBED",
            Col::Detail => "DETAIL / LAST ERROR",
        }
    }

    /// The title's width in cells: titles are ASCII, one cell a byte.
    pub const fn title_width(self) -> u16 {
        self.title().len() as u16
    }
}

/// The widest content of each column in the current snapshot (titles included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ideal {
    pub health: u16,
    pub name: u16,
    pub transport: u16,
    pub transport_short: u16,
    pub expires: u16,
    pub next: u16,
    pub rate: u16,
    pub p95: u16,
    pub age: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cols: Vec<(Col, u16)>,
    pub short_transport: bool,
}

const NAME_MIN: u16 = 10;
const NAME_MAX: u16 = 32;
const SPACING: u16 = 1;

/// Which optional columns an attempt keeps; tried in order, richest first.
struct Attempt {
    transport: Option<bool>,
    next: bool,
    age: bool,
    p95: bool,
    detail_min: Option<u16>,
    /// Take this attempt only if names fit whole: a cut name is worse than a short transport.
    name_full: bool,
}

const fn attempt(
    transport: Option<bool>,
    next: bool,
    age: bool,
    p95: bool,
    detail_min: Option<u16>,
    name_full: bool,
) -> Attempt {
    Attempt {
        transport,
        next,
        age,
        p95,
        detail_min,
        name_full,
    }
}

const ATTEMPTS: [Attempt; 9] = [
    attempt(Some(false), true, true, true, Some(24), true),
    attempt(Some(true), true, true, true, Some(20), true),
    attempt(Some(true), false, true, true, Some(20), true),
    attempt(Some(true), false, false, true, Some(16), false),
    attempt(Some(true), true, true, true, None, false),
    attempt(Some(true), false, true, true, None, false),
    attempt(Some(true), false, false, true, None, false),
    attempt(None, false, false, true, None, false),
    attempt(None, false, false, false, None, false),
];

/// Lays out `width` cells (the table's inner width, highlight symbol excluded).
pub fn plan(width: u16, ideal: &Ideal) -> Plan {
    ATTEMPTS
        .iter()
        .find_map(|attempt| try_plan(width, ideal, attempt))
        .unwrap_or_else(|| leanest(ideal))
}

/// Narrower than anything sensible: keep the essentials and let cells clip.
fn leanest(ideal: &Ideal) -> Plan {
    Plan {
        cols: vec![
            (Col::Health, ideal.health),
            (Col::Name, NAME_MIN),
            (Col::Expires, ideal.expires),
            (Col::Rate, ideal.rate),
        ],
        short_transport: true,
    }
}

fn try_plan(width: u16, ideal: &Ideal, attempt: &Attempt) -> Option<Plan> {
    let transport = attempt.transport.map(|short| {
        let w = if short {
            ideal.transport_short
        } else {
            ideal.transport
        };
        (Col::Transport, w)
    });
    let mut tail = vec![(Col::Expires, ideal.expires)];
    if attempt.next {
        tail.push((Col::Next, ideal.next));
    }
    tail.push((Col::Rate, ideal.rate));
    if attempt.p95 {
        tail.push((Col::P95, ideal.p95));
    }
    if attempt.age {
        tail.push((Col::Age, ideal.age));
    }
    let columns = 2
        + u16::from(transport.is_some())
        + tail.len() as u16
        + u16::from(attempt.detail_min.is_some());
    let used: u16 =
        ideal.health + transport.map_or(0, |t| t.1) + tail.iter().map(|c| c.1).sum::<u16>();
    let avail = width.checked_sub(used + SPACING * (columns - 1))?;

    let name_ideal = ideal.name.clamp(NAME_MIN, NAME_MAX);
    let (name, detail) = match attempt.detail_min {
        Some(detail_min) => {
            let name_room = avail.checked_sub(detail_min)?;
            if name_room < NAME_MIN || (attempt.name_full && name_room < name_ideal) {
                return None;
            }
            let name = name_ideal.min(name_room);
            (name, Some(avail - name))
        }
        // With no detail column the name takes the slack, so the table still spans the width.
        None if avail >= NAME_MIN => (avail, None),
        None => return None,
    };
    let mut cols = vec![(Col::Health, ideal.health), (Col::Name, name)];
    cols.extend(transport);
    cols.extend(tail);
    cols.extend(detail.map(|w| (Col::Detail, w)));
    Some(Plan {
        cols,
        short_transport: attempt.transport == Some(true),
    })
}

pub fn text_width(s: &str) -> u16 {
    u16::try_from(Span::raw(s).width()).unwrap_or(u16::MAX)
}

/// Cuts `s` to `max` cells, marking the cut with "…".
pub fn truncate(s: &str, max: usize) -> String {
    if Span::raw(s).width() <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let mut buf = [0u8; 4];
        let w = Span::raw(&*ch.encode_utf8(&mut buf)).width();
        if used + w + 1 > max {
            break;
        }
        out.push(ch);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDEAL: Ideal = Ideal {
        health: 16,
        name: 15,
        transport: 19,
        transport_short: 9,
        expires: 10,
        next: 10,
        rate: 5,
        p95: 7,
        age: 6,
    };

    fn cols(plan: &Plan) -> Vec<Col> {
        plan.cols.iter().map(|c| c.0).collect()
    }

    fn total(plan: &Plan) -> u16 {
        plan.cols.iter().map(|c| c.1).sum::<u16>() + plan.cols.len() as u16 - 1
    }

    #[test]
    fn wide_terminal_shows_everything_and_fills_the_width() {
        let p = plan(150, &IDEAL);
        assert!(!p.short_transport);
        assert_eq!(cols(&p).len(), 9);
        assert_eq!(cols(&p).last(), Some(&Col::Detail));
        assert_eq!(total(&p), 150);
    }

    #[test]
    fn at_120_columns_every_column_shows_with_short_transports() {
        let p = plan(114, &IDEAL);
        assert!(p.short_transport, "{p:?}");
        for col in [Col::Next, Col::P95, Col::Age, Col::Detail] {
            assert!(cols(&p).contains(&col), "{col:?} missing: {p:?}");
        }
        assert_eq!(total(&p), 114);
    }

    #[test]
    fn eighty_columns_drops_detail_and_gives_the_slack_to_names() {
        let p = plan(76, &IDEAL);
        assert!(p.short_transport);
        assert!(!cols(&p).contains(&Col::Detail), "{p:?}");
        assert!(cols(&p).contains(&Col::P95), "{p:?}");
        assert_eq!(total(&p), 76);
    }

    #[test]
    fn long_names_win_over_long_transport_names() {
        let long = Ideal {
            name: 27,
            transport: 19,
            ..IDEAL
        };
        let p = plan(114, &long);
        assert!(p.short_transport, "{p:?}");
        assert!(p.cols.contains(&(Col::Name, 27)), "{p:?}");
    }

    #[test]
    fn very_narrow_drops_transport_then_p95() {
        let p = plan(54, &IDEAL);
        assert!(!cols(&p).contains(&Col::Transport), "{p:?}");
        let p = plan(46, &IDEAL);
        assert!(!cols(&p).contains(&Col::P95), "{p:?}");
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("connection refused", 10), "connectio…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abc", 0), "");
    }
}
