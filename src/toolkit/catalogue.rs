//! What a server offers (its tools, resources and prompts) as plain data: fetched and cached
//! by `mcp::catalog`, read by every front-end.

use std::time::Duration;

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use serde::{Deserialize, Serialize};

use crate::domain::UnixMs;

pub const CATALOGUE_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalogue {
    pub fetched_at: UnixMs,
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub prompts: Vec<Prompt>,
    /// `resources/templates/list`: URIs with `{parameters}` to fill in.
    #[serde(default)]
    pub resource_templates: Vec<ResourceTemplate>,
}

impl Catalogue {
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn fresh(&self, now: UnixMs) -> bool {
        now.saturating_sub(self.fetched_at) < CATALOGUE_TTL.as_millis() as i64
    }
}
