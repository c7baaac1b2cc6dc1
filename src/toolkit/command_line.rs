//! "Copy as command": the `switchboard call` line that repeats a call from the console, quoted
//! for a POSIX shell so it works as pasted.

use serde_json::{Map, Value};

use crate::domain::ConnectionKey;

/// `switchboard call CONNECTOR TOOL 'ARGS' [--account A]`.
pub fn call_command(key: &ConnectionKey, tool: &str, arguments: &Map<String, Value>) -> String {
    let args = Value::Object(arguments.clone()).to_string();
    let mut line = format!(
        "switchboard call {} {} {}",
        quote(&key.connector),
        quote(tool),
        quote(&args)
    );
    if key.account != "default" {
        line.push_str(&format!(" --account {}", quote(&key.account)));
    }
    line
}

/// A word as the shell reads it back: bare when it is plainly safe, else single-quoted (a
/// single quote inside becomes `'\''`).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '=')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_line_quotes_what_the_shell_would_split_or_expand() {
        let args = json!({"message": "it's $HOME; rm -rf /"});
        let line = call_command(
            &ConnectionKey::new("lab-mcp", "default"),
            "echo",
            args.as_object().unwrap(),
        );
        assert_eq!(
            line,
            r#"switchboard call lab-mcp echo '{"message":"it'\''s $HOME; rm -rf /"}'"#
        );
        let line = call_command(
            &ConnectionKey::new("gh", "alice smith"),
            "get-sum",
            json!({}).as_object().unwrap(),
        );
        assert_eq!(
            line,
            "switchboard call gh get-sum '{}' --account 'alice smith'"
        );
    }

    #[test]
    fn the_quoted_line_reads_back_as_the_same_words_in_a_real_shell() {
        let nasty = "a'b \"c\" $(x) `y` \\ ünï 🦀";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(nasty)))
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), nasty);
    }
}
