//! `switchboard store migrate`: moving a data directory's grants into a shared PostgreSQL.

use super::{Exit, Outcome, open_workspace};
use crate::cli::{EXIT_USAGE, Global};
use crate::engine::open::DATABASE_URL_ENV;
use crate::secret::Secret;

pub async fn migrate(global: &Global, to: Option<Secret>) -> Outcome {
    let url = to
        .map(|s| s.expose().to_string())
        .or_else(|| std::env::var(DATABASE_URL_ENV).ok())
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            Exit::new(
                EXIT_USAGE,
                format!(
                    "name the database: set {DATABASE_URL_ENV}=postgres://USER:PASSWORD@HOST:PORT/DATABASE (it keeps the password out of the process list), or pass --to"
                ),
            )
        })?;
    let workspace = open_workspace(global)?;
    eprintln!(
        "copying the tokens of {} into the shared database, each read back before the next...",
        workspace.data_dir().display()
    );
    let done = workspace
        .migrate_grants(&url)
        .await
        .map_err(|f| Exit::failed(&f))?;
    let names = |keys: &[crate::domain::ConnectionKey]| {
        keys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "copied {} token{} into {}; each reads back identical under the vault key",
        done.tokens.len(),
        if done.tokens.len() == 1 { "" } else { "s" },
        done.place
    );
    if !done.states.is_empty() {
        println!(
            "copied the state of {} without a token (re-auth marks, revocations)",
            names(&done.states)
        );
    }
    if !done.kept.is_empty() {
        println!(
            "kept the database's own token for {}: another host may be using it",
            names(&done.kept)
        );
    }
    if !done.unreadable.is_empty() {
        println!(
            "not copied, as this vault key cannot decrypt them: {}; run `switchboard auth` for each once the daemons use the database",
            names(&done.unreadable)
        );
    }
    println!(
        "next: give every host {DATABASE_URL_ENV} (or [store] url) and this vault key, then start the daemons"
    );
    Ok(0)
}
