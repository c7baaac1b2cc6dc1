//! What the binary says about itself: shell completions that load in the shell, and man pages
//! generated from the same clap definitions.

#[path = "support/cli.rs"]
mod support;

use support::{BIN, scrubbed};

fn run(args: &[&str]) -> std::process::Output {
    scrubbed(BIN).args(args).output().expect("run switchboard")
}

#[test]
fn bash_completion_loads_in_bash() {
    let script = format!("source <('{BIN}' completions bash) && complete -p switchboard");
    let out = scrubbed("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("switchboard"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it completes subcommands: compgen through the generated function.
    let script = format!(
        "source <('{BIN}' completions bash); COMP_WORDS=(switchboard sta); COMP_CWORD=1; \
         _switchboard switchboard sta switchboard; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let out = scrubbed("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.lines().any(|l| l == "status"), "{said}");
}

#[test]
fn zsh_and_fish_completions_name_the_commands() {
    for shell in ["zsh", "fish"] {
        let out = run(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        for word in ["status", "token", "exec", "daemon"] {
            assert!(text.contains(word), "{shell} lacks {word}");
        }
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_render() {
    let out = run(&["man"]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        page.starts_with(".ie") || page.contains(".TH switchboard"),
        "{page}"
    );
    assert!(
        page.contains("status") && page.contains("SWITCHBOARD_CONFIG"),
        "{page}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    for page in [
        "switchboard.1",
        "switchboard-status.1",
        "switchboard-token.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
    // `man` itself formats the page where it is installed.
    if let Ok(out) = scrubbed("man")
        .arg("-l")
        .arg(dir.path().join("switchboard-token.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        && out.status.success()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--reveal"), "{text}");
    }
}
