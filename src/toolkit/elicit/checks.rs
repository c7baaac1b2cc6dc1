//! The constraints a form's schema can put on a value: length, format, range, count. Each
//! error reads after the field's name ("age: 200 is above the maximum 150").

pub(super) fn check_text(
    s: &str,
    format: Option<&str>,
    min: Option<u64>,
    max: Option<u64>,
) -> Result<(), String> {
    let n = s.chars().count() as u64;
    if let Some(min) = min.filter(|m| n < *m) {
        return Err(format!("{n} characters, at least {min} needed"));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(format!("{n} characters, at most {max} allowed"));
    }
    let fits = match format {
        Some("email") => s.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !s.contains(char::is_whitespace)
        }),
        Some("uri") => url::Url::parse(s).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        _ => true,
    };
    match format {
        Some(f) if !fits => Err(format!("`{s}` is not {}", format_example(f))),
        _ => Ok(()),
    }
}

fn format_example(format: &str) -> &'static str {
    match format {
        "email" => "an email address (name@example.com)",
        "uri" => "a URI (https://example.com/path)",
        "date" => "a date (2025-12-31)",
        "date-time" => "a date and time (2025-12-31T23:59:00Z)",
        _ => "in the requested format",
    }
}

pub(super) fn check_range(
    number: &serde_json::Number,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<(), String> {
    let Some(n) = number.as_f64() else {
        return Err(format!("{number} is not a number this client can compare"));
    };
    if let Some(min) = min.filter(|m| n < *m) {
        return Err(format!("{n} is below the minimum {min}"));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(format!("{n} is above the maximum {max}"));
    }
    Ok(())
}

pub(super) fn check_count(n: usize, min: Option<u64>, max: Option<u64>) -> Result<(), String> {
    let n = n as u64;
    if let Some(min) = min.filter(|m| n < *m) {
        return Err(format!("{n} picked, at least {min} needed"));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(format!("{n} picked, at most {max} allowed"));
    }
    Ok(())
}
