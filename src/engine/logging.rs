//! `logging/setLevel` through the one door (`Command::SetLogLevel`). The server's log messages
//! themselves (`notifications/message`) are in the protocol transcript; the console's log tab
//! reads them from there.
//!
//! rmcp marks MCP logging deprecated (SEP-2577), but servers in use still send and honour it,
//! and the spec revisions switchboard speaks still define it.
#![allow(deprecated)]

use rmcp::model::{LoggingLevel, SetLevelRequestParams};

use super::api::Level;
use super::core::Engine;
use crate::domain::{ConnectionKey, ErrorClass, Failure};

/// The levels of `logging/setLevel`, least severe first.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

impl Engine {
    pub(super) async fn set_log_level(
        &self,
        key: &ConnectionKey,
        level: &str,
    ) -> Result<(), Failure> {
        let level: LoggingLevel =
            serde_json::from_value(serde_json::Value::from(level)).map_err(|_| {
                Failure::new(
                    ErrorClass::Config,
                    format!(
                        "`{level}` is not a log level; use one of {}",
                        LOG_LEVELS.join(", ")
                    ),
                )
            })?;
        let target = self.tool_target(key)?;
        let session = self.mcp.session(key, &target).await?;
        let params = SetLevelRequestParams::new(level);
        let result = session.peer().set_level(params).await;
        result.map_err(|e| self.mcp.failure(key, &e))
    }

    /// Sets the level and says how it went, as a notice every front-end shows.
    pub(super) async fn set_log_level_noticed(&self, key: &ConnectionKey, level: &str) {
        match self.set_log_level(key, level).await {
            Ok(()) => self.notice(
                Level::Info,
                format!("{key}: the server now logs from {level} up"),
            ),
            Err(f) => self.notice(Level::Warn, format!("{key}: logging/setLevel {level}: {f}")),
        }
    }
}
