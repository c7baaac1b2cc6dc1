//! The README's command reference against the binary's own `--help`: every command it lists
//! exists, every flag it shows is one that command takes, and every command the binary offers
//! is in the reference. Also the facts the first hour trips over: the sample console's row
//! count is the demo's, and `--help` describes the arguments new users ask about.

#[path = "support/cli.rs"]
mod support;

use std::collections::BTreeSet;

use support::{BIN, scrubbed};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The first fenced block under `## Commands`.
fn reference(readme: &str) -> String {
    let section = readme
        .split("\n## Commands\n")
        .nth(1)
        .expect("a Commands section");
    let block = section
        .split("```")
        .nth(1)
        .expect("a code block under Commands");
    block.to_owned()
}

fn help(path: &[&str]) -> String {
    let out = scrubbed(BIN)
        .args(path)
        .arg("--help")
        .output()
        .expect("run switchboard");
    assert!(
        out.status.success(),
        "switchboard {} --help: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `--flag` in `text`.
fn flags(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let after = &rest[at + 2..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let before = rest[..at].chars().last();
        // `--` alone (exec's separator) and words like "re--auth" are not flags.
        if !name.is_empty() && !before.is_some_and(|c| c.is_alphanumeric()) {
            found.insert(format!("--{name}"));
        }
        rest = &after[name.len()..];
    }
    found
}

/// The subcommands `switchboard <path> --help` lists.
fn subcommands(help: &str) -> Vec<String> {
    let Some(list) = help.split("Commands:\n").nth(1) else {
        return Vec::new();
    };
    list.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

/// Each reference entry: the command paths it names (`tools|call` names two) and its flags
/// (continuation lines included).
fn entries(block: &str) -> Vec<(Vec<Vec<String>>, BTreeSet<String>)> {
    let top = subcommands(&help(&[]));
    let mut out: Vec<(Vec<Vec<String>>, BTreeSet<String>)> = Vec::new();
    for line in block.lines() {
        // The usage part only: the description starts after a run of spaces.
        let usage = line.split("   ").next().unwrap_or_default();
        if let Some(rest) = usage.strip_prefix("switchboard ") {
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with('[') && !w.starts_with('-'))
                .collect();
            let mut paths: Vec<Vec<String>> = Vec::new();
            if let Some(first) = words
                .first()
                .filter(|w| w.split('|').all(|c| top.iter().any(|t| t == c)))
            {
                for name in first.split('|') {
                    let mut path = vec![name.to_owned()];
                    let nested = subcommands(&help(&[name]));
                    if let Some(second) = words.get(1).filter(|w| nested.iter().any(|n| n == *w)) {
                        path.push((*second).to_owned());
                    }
                    paths.push(path);
                }
            }
            out.push((paths, flags(usage)));
        } else if line.starts_with(' ')
            && let Some(last) = out.last_mut()
        {
            last.1.extend(flags(usage));
        }
    }
    out
}

#[test]
fn every_command_and_flag_in_the_readme_is_real() {
    let block = reference(&readme());
    let mut named: BTreeSet<String> = BTreeSet::new();
    for (paths, wanted) in entries(&block) {
        if paths.is_empty() {
            // `switchboard [--config PATH] [--data-dir DIR]`: the console itself.
            let top = flags(&help(&[]));
            assert!(
                wanted.is_subset(&top),
                "{wanted:?} not in `switchboard --help`"
            );
            continue;
        }
        for path in paths {
            named.insert(path[0].clone());
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let has = flags(&help(&path));
            let missing: Vec<_> = wanted.difference(&has).collect();
            assert!(
                missing.is_empty(),
                "README shows `switchboard {}` with {missing:?}, which its --help lacks",
                path.join(" ")
            );
        }
    }
    for command in subcommands(&help(&[])) {
        assert!(
            named.contains(&command),
            "`switchboard {command}` is missing from the README's command reference"
        );
    }
}

#[test]
fn the_checker_catches_a_flag_that_does_not_exist() {
    let entries = entries("switchboard status [--jsn]\nswitchboard token CONNECTOR [--reveal]\n");
    let (paths, wanted) = &entries[0];
    assert_eq!(paths, &vec![vec!["status".to_owned()]]);
    assert!(!wanted.is_subset(&flags(&help(&["status"]))));
    let (_, wanted) = &entries[1];
    assert!(wanted.is_subset(&flags(&help(&["token"]))));
}

#[test]
fn the_sample_console_has_the_demos_row_count() {
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/commands/demo.rs"))
            .expect("demo.rs");
    let rows = demo.matches("[[connectors]]").count();
    assert!(
        readme().contains(&format!("connections ({rows})")),
        "the README's sample console should show the demo's {rows} connections"
    );
}

#[test]
fn help_describes_what_new_users_ask_about() {
    for command in ["auth", "revoke", "refresh", "probe", "token", "pause"] {
        let text = help(&[command]);
        let line = |what: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(what))
                .unwrap_or_else(|| panic!("{command} --help lacks {what}:\n{text}"))
                .to_owned()
        };
        for what in ["<CONNECTOR>", "--account"] {
            let l = line(what);
            let described = l.trim_start()[what.len()..]
                .trim_start_matches(|c: char| {
                    c == ' ' || c == '<' || c.is_ascii_uppercase() || c == '>'
                })
                .trim();
            assert!(
                !described.is_empty() && !described.starts_with('['),
                "{command} --help: {what} has no description: {l}"
            );
        }
    }
    for command in ["refresh", "probe", "status"] {
        let text = help(&[command]);
        let l = text
            .lines()
            .find(|l| l.trim_start().starts_with("--json"))
            .unwrap_or_default();
        assert!(l.trim_start().len() > "--json".len() + 2, "{command}: {l}");
    }
    assert!(help(&[]).contains("SWITCHBOARD_DATA_DIR"));
    // The demo writes its own config; it does take --data-dir (to keep its data somewhere).
    let demo = help(&["demo"]);
    assert!(
        !demo.contains("--config") && demo.contains("--data-dir"),
        "{demo}"
    );
}

#[test]
fn the_demo_never_takes_the_operators_data_dir_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let child = scrubbed(BIN)
        .args(["demo", "--headless"])
        .env("SWITCHBOARD_DATA_DIR", &mine)
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the demo");
    let mut child = support::KillOnDrop(child);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("the demo's first line");
    assert!(line.contains("data in"), "{line}");
    assert!(line.contains(tmp.to_str().unwrap()), "{line}");
    assert!(!mine.exists(), "the demo wrote into $SWITCHBOARD_DATA_DIR");
}
