//! Pinning the MCP protocol revision switchboard proposes at `initialize`. By default rmcp
//! proposes its newest, as the spec says a client should; a pin lets an operator test how a
//! server behaves for clients of an older revision, and reach servers (or test suites) that
//! refuse a revision they do not know instead of negotiating down.

use rmcp::model::ProtocolVersion;

/// The revision named by `--protocol-version` / `protocol_version`, if rmcp speaks it. An
/// unknown date is refused rather than sent: rmcp would then propose a revision whose rules it
/// does not follow, and the server's answer would say nothing about the one the operator meant.
pub fn parse(raw: &str) -> Result<ProtocolVersion, String> {
    let raw = raw.trim();
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .find(|v| v.as_str() == raw)
        .cloned()
        .ok_or_else(|| {
            format!(
                "`{raw}` is not an MCP protocol revision switchboard speaks; use one of {}",
                known().join(", ")
            )
        })
}

pub fn known() -> Vec<&'static str> {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .map(ProtocolVersion::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_revisions_parse_and_others_are_refused_with_the_list() {
        assert_eq!(
            parse(" 2025-06-18 ").unwrap(),
            ProtocolVersion::V_2025_06_18
        );
        assert_eq!(parse("2025-11-25").unwrap(), ProtocolVersion::V_2025_11_25);
        let e = parse("2025-13-01").unwrap_err();
        assert!(e.contains("2025-13-01") && e.contains("2025-06-18"), "{e}");
        assert!(parse("").is_err());
    }
}
