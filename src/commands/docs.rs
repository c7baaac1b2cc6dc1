//! `completions` and `man`: generated from the clap definitions, so they cannot drift from
//! what the binary accepts.

use std::path::Path;

use super::{Exit, Outcome};
use crate::cli::{Cli, EXIT_FAILED, EXIT_OK};

pub fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut cmd = Cli::command_line();
    clap_complete::generate(shell, &mut cmd, "switchboard", &mut std::io::stdout());
    Ok(EXIT_OK)
}

pub fn man(dir: Option<&Path>) -> Outcome {
    let cmd = Cli::command_line();
    match dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| Exit::new(EXIT_FAILED, format!("cannot write the man page: {e}")))?,
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Exit::new(EXIT_FAILED, format!("cannot create {}: {e}", dir.display()))
            })?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                Exit::new(
                    EXIT_FAILED,
                    format!("cannot write the man pages into {}: {e}", dir.display()),
                )
            })?;
            eprintln!("man pages written to {}", dir.display());
        }
    }
    Ok(EXIT_OK)
}
