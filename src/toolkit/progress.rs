//! One line for a `notifications/progress`: the amount, the share done and the server's
//! message, each said once. Servers often put the amount in the message too (`5/20`), and
//! printing both read `5/20 5/20` in the console and `1/3 (33%) 1/3` on the command line.

/// `5/20 (25%) fetching`, `7`, or the message alone when it already carries the amount.
pub fn progress_text(progress: f64, total: Option<f64>, message: Option<&str>) -> String {
    let progress = finite(progress);
    let total = total.map(finite).filter(|t| *t > 0.0);
    let amount = match total {
        Some(t) => format!("{}/{}", number(progress), number(t)),
        None => number(progress),
    };
    // A server's number is clamped before it is shown: a share past 100% or below 0 is noise.
    let share = total.map(|t| format!("({:.0}%)", (100.0 * progress / t).clamp(0.0, 100.0)));
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    let mut parts: Vec<String> = Vec::new();
    match message {
        Some(m) if says_amount(m, &amount) => {
            parts.push(m.to_string());
            parts.extend(share.filter(|s| !m.contains(s.as_str())));
        }
        Some(m) => {
            parts.push(amount);
            parts.extend(share);
            parts.push(m.to_string());
        }
        None => {
            parts.push(amount);
            parts.extend(share);
        }
    }
    parts.join(" ")
}

/// Whether the message holds the amount as a word of its own (`5/20`, `step 5/20:`), not
/// as part of a longer number (`15/200`).
fn says_amount(message: &str, amount: &str) -> bool {
    message
        .split(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | '(' | ')' | '[' | ']'))
        .any(|word| word == amount)
}

fn finite(n: f64) -> f64 {
    if n.is_finite() { n } else { 0.0 }
}

/// Whole numbers without `.0`; others with at most two decimals.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{:.2}", n).trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::progress_text;

    #[test]
    fn an_amount_the_message_repeats_is_said_once() {
        assert_eq!(progress_text(5.0, Some(20.0), Some("5/20")), "5/20 (25%)");
        assert_eq!(progress_text(1.0, Some(3.0), Some("1/3")), "1/3 (33%)");
        assert_eq!(
            progress_text(5.0, Some(20.0), Some("step 5/20: fetching")),
            "step 5/20: fetching (25%)"
        );
    }

    #[test]
    fn a_message_without_the_amount_follows_it() {
        assert_eq!(
            progress_text(15.0, Some(200.0), Some("5/20 warm-up")),
            "15/200 (8%) 5/20 warm-up"
        );
        assert_eq!(progress_text(7.0, None, Some("rows")), "7 rows");
        assert_eq!(progress_text(7.0, None, None), "7");
        assert_eq!(progress_text(0.5, None, Some("  ")), "0.5");
    }

    #[test]
    fn numbers_a_server_should_not_send_are_clamped() {
        assert_eq!(progress_text(f64::NAN, Some(10.0), None), "0/10 (0%)");
        assert_eq!(progress_text(30.0, Some(10.0), None), "30/10 (100%)");
        assert_eq!(progress_text(3.0, Some(0.0), None), "3");
        assert_eq!(progress_text(f64::INFINITY, Some(-1.0), None), "0");
    }
}
