//! Column widths for the fleet table. Narrow terminals lose the least useful information first:
//! the detail column shrinks, transports are abbreviated, then detail, transport and latency go
//! in turn. The status line under the table always shows the selected row's full detail, so
//! nothing becomes unreachable.

use ratatui::text::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Health,
    Name,
    Transport,
    Expires,
    Rate,
    Latency,
    Detail,
}

impl Col {
    pub fn title(self) -> &'static str {
        match self {
            Col::Health => "HEALTH",
            Col::Name => "CONNECTION",
            Col::Transport => "TRANSPORT",
            Col::Expires => "EXPIRES IN",
            Col::Rate => "OK 1H",
            Col::Latency => "LATENCY",
            Col::Detail => "DETAIL / LAST ERROR",
        }
    }
}

/// The widest content of each column in the current snapshot (titles included).
#[derive(Debug, Clone, Copy)]
pub struct Ideal {
    pub health: u16,
    pub name: u16,
    pub transport: u16,
    pub transport_short: u16,
    pub expires: u16,
    pub rate: u16,
    pub latency: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cols: Vec<(Col, u16)>,
    pub short_transport: bool,
}

const NAME_MIN: u16 = 10;
const NAME_MAX: u16 = 32;
const SPACING: u16 = 1;

struct Attempt {
    transport: Option<bool>,
    latency: bool,
    detail_min: Option<u16>,
}

const ATTEMPTS: [Attempt; 5] = [
    Attempt {
        transport: Some(false),
        latency: true,
        detail_min: Some(24),
    },
    Attempt {
        transport: Some(true),
        latency: true,
        detail_min: Some(16),
    },
    Attempt {
        transport: Some(true),
        latency: true,
        detail_min: None,
    },
    Attempt {
        transport: None,
        latency: true,
        detail_min: None,
    },
    Attempt {
        transport: None,
        latency: false,
        detail_min: None,
    },
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
    let mut fixed = vec![(Col::Health, ideal.health)];
    let transport = attempt.transport.map(|short| {
        let w = if short {
            ideal.transport_short
        } else {
            ideal.transport
        };
        (Col::Transport, w)
    });
    let mut tail = vec![(Col::Expires, ideal.expires), (Col::Rate, ideal.rate)];
    if attempt.latency {
        tail.push((Col::Latency, ideal.latency));
    }
    let columns = 2 + u16::from(transport.is_some()) + tail.len() as u16;
    let columns = columns + u16::from(attempt.detail_min.is_some());
    let used: u16 = fixed
        .iter()
        .chain(&tail)
        .chain(&transport)
        .map(|c| c.1)
        .sum();
    let avail = width.checked_sub(used + SPACING * (columns - 1))?;

    let name_ideal = ideal.name.clamp(NAME_MIN, NAME_MAX);
    let (name, detail) = match attempt.detail_min {
        Some(detail_min) => {
            let name_room = avail.checked_sub(detail_min)?;
            if name_room < NAME_MIN {
                return None;
            }
            let name = name_ideal.min(name_room);
            (name, Some(avail - name))
        }
        // With no detail column the name takes the slack, so the table still spans the width.
        None if avail >= NAME_MIN => (avail, None),
        None => return None,
    };
    fixed.push((Col::Name, name));
    fixed.extend(transport);
    fixed.extend(tail);
    fixed.extend(detail.map(|w| (Col::Detail, w)));
    Some(Plan {
        cols: fixed,
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
        expires: 14,
        rate: 5,
        latency: 7,
    };

    fn cols(plan: &Plan) -> Vec<Col> {
        plan.cols.iter().map(|c| c.0).collect()
    }

    #[test]
    fn wide_terminal_shows_everything_and_fills_the_width() {
        let p = plan(116, &IDEAL);
        assert!(!p.short_transport);
        assert_eq!(cols(&p).last(), Some(&Col::Detail));
        let total: u16 = p.cols.iter().map(|c| c.1).sum::<u16>() + 6;
        assert_eq!(total, 116);
    }

    #[test]
    fn detail_shrinks_and_transport_abbreviates_before_detail_goes() {
        let p = plan(90, &IDEAL);
        assert!(p.short_transport);
        assert!(cols(&p).contains(&Col::Detail));
    }

    #[test]
    fn eighty_columns_drops_detail_and_gives_the_slack_to_names() {
        let p = plan(76, &IDEAL);
        assert!(p.short_transport);
        assert!(!cols(&p).contains(&Col::Detail));
        assert!(p.cols.contains(&(Col::Name, 20)), "{p:?}");
    }

    #[test]
    fn very_narrow_drops_detail_then_transport() {
        let p = plan(60, &IDEAL);
        assert!(!cols(&p).contains(&Col::Detail));
        let p = plan(54, &IDEAL);
        assert!(!cols(&p).contains(&Col::Transport));
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("connection refused", 10), "connectio…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abc", 0), "");
    }
}
