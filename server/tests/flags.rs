//! README.md's flag table against `server --help`: every flag the binary prints has one row
//! with the same environment variable and default, and every row names a flag the binary has.

use std::process::Command;

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");

/// What the README writes in a cell for "no environment variable" or "no default".
const NONE: &str = "—";

/// One flag as `--help` or the README describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flag {
    name: String,
    env: Option<String>,
    default: Option<String>,
}

fn help_text() -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.arg("--help");
    // A CHAT_* variable set around the test would show its value in `[env: …]`.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHAT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().expect("run server --help");
    assert!(out.status.success(), "server --help failed: {out:?}");
    String::from_utf8(out.stdout).expect("--help prints UTF-8")
}

/// Parses clap's long help: a flag line (`      --name <VALUE>` or `  -h, --help`, indented
/// less than its description), then description lines, among them `[env: CHAT_X=]` and
/// `[default: 10000]`. `--help` and `--version` are clap's own and skipped.
fn parse_help(help: &str) -> Vec<Flag> {
    let mut flags: Vec<Flag> = Vec::new();
    for line in help.lines() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if (1..=6).contains(&indent) && text.starts_with('-') {
            let name = text
                .split_whitespace()
                .find(|word| word.starts_with("--"))
                .unwrap_or_else(|| panic!("a flag line without a long flag: {line:?}"));
            flags.push(Flag {
                name: name.trim_end_matches(',').to_owned(),
                env: None,
                default: None,
            });
            continue;
        }
        let Some(flag) = flags.last_mut() else {
            continue;
        };
        if let Some(rest) = text.strip_prefix("[env: ") {
            // `[env: CHAT_X=value]`, or `[env: CHAT_X]` for a flag whose value is hidden.
            let env = rest.split('=').next().unwrap_or(rest);
            let env = env.strip_suffix(']').unwrap_or(env);
            flag.env = Some(env.to_owned());
        } else if let Some(rest) = text.strip_prefix("[default: ") {
            flag.default = Some(rest.strip_suffix(']').unwrap_or(rest).to_owned());
        }
    }
    flags.retain(|f| f.name != "--help" && f.name != "--version");
    flags
}

/// A table cell's value: backticks dropped, [`NONE`] read as no value.
fn cell(raw: &str) -> Option<String> {
    let value = raw.trim().trim_matches('`');
    (value != NONE).then(|| value.to_owned())
}

/// Parses the README's `| flag | env | default | meaning |` table, one flag per row. A row
/// that cannot be read is an error, not a row left out.
fn parse_readme(readme: &str) -> Result<Vec<Flag>, Vec<String>> {
    let mut lines = readme.lines().map(str::trim);
    let is_header = |line: &str| {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        cells == ["flag", "env", "default", "meaning"]
    };
    if !lines.any(is_header) {
        return Err(vec![
            "README.md has no `| flag | env | default | meaning |` table".into(),
        ]);
    }
    lines.next(); // the |---| line
    let (mut flags, mut errors) = (Vec::new(), Vec::new());
    for line in lines.take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line[1..].splitn(4, '|').collect();
        let [name, env, default, meaning] = cells[..] else {
            errors.push(format!("README row with fewer than four cells: {line}"));
            continue;
        };
        let name = name.trim().trim_matches('`');
        if !name.starts_with("--") || name.contains([',', ' ', '`']) {
            errors.push(format!("README row must name one flag, `--name`: {line}"));
            continue;
        }
        if [env, default, meaning].iter().any(|c| c.trim().is_empty()) {
            errors.push(format!(
                "README row for {name} has an empty cell (write {NONE} for none): {line}"
            ));
        }
        if flags.iter().any(|f: &Flag| f.name == name) {
            errors.push(format!("README lists {name} twice"));
        }
        flags.push(Flag {
            name: name.to_owned(),
            env: cell(env),
            default: cell(default),
        });
    }
    if errors.is_empty() {
        Ok(flags)
    } else {
        Err(errors)
    }
}

/// Every disagreement between the two lists, one line each; empty when they agree.
fn differences(help: &[Flag], readme: &[Flag]) -> Vec<String> {
    let show = |v: &Option<String>| v.as_deref().unwrap_or(NONE).to_owned();
    let code = |v: &Option<String>| v.as_ref().map_or(NONE.to_owned(), |v| format!("`{v}`"));
    let mut diff = Vec::new();
    for h in help {
        if h.env.is_none() {
            diff.push(format!("{}: --help shows no environment twin", h.name));
        }
        match readme.iter().find(|r| r.name == h.name) {
            None => diff.push(format!(
                "{} is missing from README.md; its row would start | `{}` | {} | {} |",
                h.name,
                h.name,
                code(&h.env),
                code(&h.default),
            )),
            Some(r) => {
                if r.env != h.env {
                    diff.push(format!(
                        "{}: env is {} in README.md, {} in --help",
                        h.name,
                        show(&r.env),
                        show(&h.env)
                    ));
                }
                if r.default != h.default {
                    diff.push(format!(
                        "{}: default is {} in README.md, {} in --help",
                        h.name,
                        show(&r.default),
                        show(&h.default)
                    ));
                }
            }
        }
    }
    for r in readme {
        if !help.iter().any(|h| h.name == r.name) {
            diff.push(format!(
                "{}: in README.md, but `server --help` has no such flag",
                r.name
            ));
        }
    }
    diff
}

fn readme_text() -> String {
    std::fs::read_to_string(README).expect("read README.md")
}

/// The help parser understood the binary: without this a change of clap's format could leave
/// nothing to compare, and the comparison would pass on two empty lists.
fn parsed_help() -> Vec<Flag> {
    let help = parse_help(&help_text());
    let listen = help.iter().find(|f| f.name == "--listen");
    assert_eq!(
        listen,
        Some(&Flag {
            name: "--listen".into(),
            env: Some("CHAT_LISTEN".into()),
            default: Some("127.0.0.1:8080".into()),
        }),
        "--help's format was not understood; parsed: {help:#?}"
    );
    assert!(
        help.len() > 20,
        "only {} flags parsed: {help:#?}",
        help.len()
    );
    help
}

#[test]
fn readme_flag_table_matches_help() {
    let help = parsed_help();
    let readme = parse_readme(&readme_text()).unwrap_or_else(|errors| {
        panic!("README.md's flag table:\n  {}", errors.join("\n  "));
    });
    let diff = differences(&help, &readme);
    assert!(
        diff.is_empty(),
        "README.md's flag table and `server --help` disagree:\n  {}",
        diff.join("\n  ")
    );
}

/// The check above would catch a flag added to the server without a README row, or a default
/// changed on one side only.
#[test]
fn a_missing_row_or_a_changed_default_is_reported() {
    let help = parsed_help();
    let mut readme = parse_readme(&readme_text()).expect("README.md's table parses");
    readme.retain(|f| f.name != "--typing-ttl");
    let listen = readme.iter_mut().find(|f| f.name == "--listen");
    listen.expect("a --listen row").default = Some("0.0.0.0:80".into());
    let diff = differences(&help, &readme);
    assert_eq!(diff.len(), 2, "{diff:#?}");
    assert!(diff[0].starts_with("--listen: default is 0.0.0.0:80 in README.md"));
    assert!(diff[1].starts_with("--typing-ttl is missing from README.md"));
}
