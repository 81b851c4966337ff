//! `docs/dataplane-api.md` lists every field of every model by what `lb` does with it. The
//! list is generated from the tables, so that the document cannot drift from the code: this
//! test fails when the document's block differs, and prints the block to paste.
use super::*;

const BEGIN: &str =
    "<!-- fields: generated from lb/src/config/fields by `cargo test -p lb --lib doc_lists` -->";
const END: &str = "<!-- fields: end -->";

/// Each model's table, named as the document names it.
const MODELS: &[(&str, &[Field])] = &[
    ("frontend", FRONTEND),
    ("bind", BIND),
    ("backend", BACKEND),
    ("balance", BALANCE),
    ("default_server", DEFAULT_SERVER),
    ("server", SERVER),
    ("backend_switching_rule", SWITCHING_RULE),
    ("defaults", DEFAULTS),
];

fn names(table: &[Field], class: impl Fn(&Use) -> Option<String>) -> String {
    let cells: Vec<String> = table
        .iter()
        .filter_map(|f| class(&f.usage).map(|c| format!("`{}`{c}", f.name)))
        .collect();
    if cells.is_empty() {
        "—".into()
    } else {
        cells.join(", ")
    }
}

/// The block as the tables say it.
fn block() -> String {
    let mut out = vec![
        BEGIN.to_owned(),
        String::new(),
        "| model | honoured | stored | refused unless (accepted values) |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    for (model, table) in MODELS {
        let honoured = names(table, |u| matches!(u, Use::Honoured).then(String::new));
        let stored = names(table, |u| matches!(u, Use::Stored).then(String::new));
        let refused = names(table, |u| match u {
            Use::Refused { neutral: [], .. } => Some(" (absent)".into()),
            Use::Refused { neutral, .. } => Some(format!(" ({})", neutral.join(", "))),
            _ => None,
        });
        out.push(format!("| {model} | {honoured} | {stored} | {refused} |"));
    }
    out.push(String::new());
    out.push(END.to_owned());
    out.join("\n")
}

#[test]
fn doc_lists_every_field_as_the_tables_classify_it() {
    let doc = include_str!("../../../../docs/dataplane-api.md");
    let expected = block();
    let found = doc
        .find(BEGIN)
        .and_then(|b| doc[b..].find(END).map(|e| &doc[b..b + e + END.len()]));
    assert_eq!(
        found,
        Some(expected.as_str()),
        "docs/dataplane-api.md §5.2.1 must hold, between its markers, exactly:\n{expected}"
    );
}
