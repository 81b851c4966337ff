//! The haproxy.cfg importer under generated input: `POST .../configuration/raw` hands it
//! whatever a client sends, and `lb --config` whatever an admin wrote. Thousands of
//! configurations made from the seed files in `lb/testdata` by line and word edits (with
//! words from haproxy.cfg's own vocabulary, so that the edits reach deep into the parser
//! rather than stopping at the first unknown keyword) and by damaged characters. For each:
//! no panic in the importer or the validator, and when the text is accepted, export →
//! import gives the same model and the export is a fixed point, so what `GET raw` shows
//! is what was committed.
//!
//! `PROPTEST_CASES=200000 cargo test --release -p lb --test haproxy_cfg_generated` is the
//! longer run (see `docs/reliability.md`).
use lb::config::haproxy::{parse, render};
use proptest::prelude::*;
use proptest::sample::Index;

const SEEDS: [&str; 3] = [
    include_str!("../testdata/wcp.cfg"),
    include_str!("../testdata/appliance-default.cfg"),
    include_str!("../testdata/capv.cfg"),
];

/// Words haproxy.cfg is made of: section and directive keywords, values of every shape the
/// parser reads (durations, counts, addresses, conditions), and the characters that end or
/// quote words.
const VOCABULARY: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "resolvers",
    "peers",
    "program",
    "bind",
    "server",
    "default_backend",
    "use_backend",
    "if",
    "unless",
    "{",
    "}",
    "dst_port",
    "mode",
    "tcp",
    "http",
    "balance",
    "roundrobin",
    "leastconn",
    "source",
    "first",
    "maxconn",
    "nbthread",
    "timeout",
    "connect",
    "client",
    "tunnel",
    "check",
    "inter",
    "rise",
    "fall",
    "weight",
    "backup",
    "disabled",
    "enabled",
    "maint",
    "user",
    "password",
    "insecure-password",
    "option",
    "tcplog",
    "log",
    "global",
    "name",
    "ssl",
    "crt",
    "alpn",
    "v4v6",
    "transparent",
    "0",
    "1",
    "-1",
    "007",
    "65535",
    "65536",
    "4294967296",
    "18446744073709551616",
    "5s",
    "100ms",
    "1m",
    "2h",
    "1d",
    "10us",
    "3x",
    "127.0.0.1",
    "127.0.0.1:80",
    "[::1]:443",
    "::1",
    ":8080",
    "*:6443",
    "0.0.0.0:0",
    "10.0.0.1:65536",
    "256.1.1.1:80",
    "fe80::1%eth0",
    "#",
    "\"",
    "'",
    "\\",
    "\\\"",
    "",
    "# _version=7",
    "# _version=18446744073709551616",
];

/// One edit of a configuration's text.
#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    /// A line of vocabulary words, indented or not.
    InsertLine(Index, bool, Vec<Index>),
    /// Word `.1` of line `.0` becomes vocabulary word `.2`.
    ReplaceWord(Index, Index, Index),
    /// Character `.0` of the whole text becomes `.1` (or is cut when `None`).
    Character(Index, Option<char>),
}

fn edit() -> impl Strategy<Value = Edit> {
    let index = any::<Index>;
    prop_oneof![
        index().prop_map(Edit::DeleteLine),
        index().prop_map(Edit::DuplicateLine),
        (index(), index()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (index(), any::<bool>(), prop::collection::vec(index(), 1..6))
            .prop_map(|(at, indent, words)| Edit::InsertLine(at, indent, words)),
        (index(), index(), index()).prop_map(|(l, w, v)| Edit::ReplaceWord(l, w, v)),
        (index(), prop::option::of(any::<char>())).prop_map(|(i, c)| Edit::Character(i, c)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let word = |i: &Index| VOCABULARY[i.index(VOCABULARY.len())];
    match edit {
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Edit::InsertLine(at, indent, words) => {
            let line: Vec<&str> = words.iter().map(word).collect();
            let prefix = if *indent { "  " } else { "" };
            lines.insert(
                at.index(lines.len() + 1),
                format!("{prefix}{}", line.join(" ")),
            );
        }
        Edit::ReplaceWord(l, w, v) if !lines.is_empty() => {
            let at = l.index(lines.len());
            let mut words: Vec<&str> = lines[at].split(' ').collect();
            let slot = w.index(words.len());
            words[slot] = word(v);
            lines[at] = words.join(" ");
        }
        Edit::Character(i, c) => {
            let mut chars: Vec<char> = lines.join("\n").chars().collect();
            if !chars.is_empty() {
                let at = i.index(chars.len());
                match c {
                    Some(c) => chars[at] = *c,
                    None => {
                        chars.remove(at);
                    }
                }
            }
            return chars.into_iter().collect();
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

/// A seed with one to five edits.
fn generated_config() -> impl Strategy<Value = String> {
    (0..SEEDS.len(), prop::collection::vec(edit(), 1..6)).prop_map(|(seed, edits)| {
        edits
            .iter()
            .fold(SEEDS[seed].to_owned(), |text, e| apply(&text, e))
    })
}

/// Lines of vocabulary words alone, with no seed to start from.
fn vocabulary_config() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (any::<bool>(), prop::collection::vec(any::<Index>(), 1..6)),
        0..40,
    )
    .prop_map(|lines| {
        lines
            .iter()
            .map(|(indent, words)| {
                let words: Vec<&str> = words
                    .iter()
                    .map(|i| VOCABULARY[i.index(VOCABULARY.len())])
                    .collect();
                format!("{}{}\n", if *indent { "  " } else { "" }, words.join(" "))
            })
            .collect()
    })
}

/// The property every input must have; see the module documentation.
fn check(text: &str) -> Result<(), TestCaseError> {
    let Ok(imported) = parse(text) else {
        return Ok(());
    };
    // Validation reads every field of whatever was accepted.
    let _ = imported.config.validate();
    let exported = render(&imported.config);
    let again = parse(&exported).map_err(|e| {
        TestCaseError::fail(format!(
            "the export of an accepted configuration is rejected: {e}\ninput:\n{text}\nexport:\n{exported}"
        ))
    })?;
    prop_assert_eq!(
        &again.config,
        &imported.config,
        "export → import changed the model; export:\n{}",
        exported
    );
    prop_assert_eq!(render(&again.config), exported);
    Ok(())
}

/// 3,000 cases per property in the normal suite; `PROPTEST_CASES` sets more for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn edited_seeds_import_without_panic_and_round_trip(text in generated_config()) {
        check(&text)?;
    }

    #[test]
    fn vocabulary_lines_import_without_panic_and_round_trip(text in vocabulary_config()) {
        check(&text)?;
    }

    #[test]
    fn any_text_imports_without_panic(text in "\\PC{0,400}") {
        check(&text)?;
    }
}
