//! docs/events.md is the examples' catalog; this test fails, with a diff, when it is stale.
//! examples/events.schema.json is their committed JSON Schema, kept compatible.
//!
//! Regenerate it with:
//!
//! ```text
//! UPDATE_EVENTS_DOC=1 cargo test -p audit-tests --test catalog_docs
//! ```

use std::path::PathBuf;

use audit_runtime::catalog::{self, EventSchema, Format};

const REGENERATE: &str = "UPDATE_EVENTS_DOC=1 cargo test -p audit-tests --test catalog_docs";

fn events_doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/events.md")
}

/// What docs/events.md must hold: the Markdown catalog of the `audit_examples` crate.
fn expected_doc() -> String {
    // Naming an item links the crate, and with it its catalog entries.
    let _ = std::mem::size_of::<audit_examples::objects::ObjectCreated<'static>>();
    let examples: Vec<&EventSchema> =
        catalog::events().into_iter().filter(|event| event.crate_name() == "audit_examples").collect();
    assert!(!examples.is_empty(), "the examples' events are not in the catalog");
    format!(
        "<!-- Generated from the events of `audit-examples` by `audit_runtime::catalog::render`. \
         Do not edit: run `{REGENERATE}`. -->\n\n{}",
        catalog::render_events(&examples, Format::Markdown)
    )
}

/// A line diff (longest common subsequence): `-` for lines only in `old`, `+` for lines only
/// in `new`, and two lines of context around each change.
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut rows: Vec<(char, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            rows.push((' ', i + 1, a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            rows.push(('+', j + 1, b[j]));
            j += 1;
        } else {
            rows.push(('-', i + 1, a[i]));
            i += 1;
        }
    }
    let changed: Vec<usize> = (0..rows.len()).filter(|&k| rows[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown = None;
    for (k, (mark, line, text)) in rows.iter().enumerate() {
        if !changed.iter().any(|&c| c.abs_diff(k) <= 2) {
            continue;
        }
        if last_shown.is_some_and(|last| last + 1 != k) {
            out.push_str("   ...\n");
        }
        out.push_str(&format!("{mark}{line:>4} | {text}\n"));
        last_shown = Some(k);
    }
    out
}

#[test]
fn docs_events_md_is_up_to_date() {
    let path = events_doc_path();
    let expected = expected_doc();
    if std::env::var_os("UPDATE_EVENTS_DOC").is_some() {
        std::fs::write(&path, &expected).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == expected,
        "docs/events.md is stale (- in the file, + generated from the examples' catalog):\n\n{}\nRegenerate it with:\n\n    {REGENERATE}\n",
        line_diff(&current, &expected)
    );
}

#[test]
fn the_diff_shows_changed_lines_with_context() {
    let diff = line_diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
    assert_eq!(diff, "    2 | b\n    3 | c\n-   4 | d\n+   4 | D\n    5 | e\n    6 | f\n");
    let far_apart = line_diff("1\n2\n3\n4\n5\n6\n7\n8\n", "0\n2\n3\n4\n5\n6\n7\n9\n");
    assert!(far_apart.contains("   ...\n"), "unchanged stretches are elided:\n{far_apart}");
    assert!(!far_apart.contains("| 4\n"), "{far_apart}");
}

/// The examples' committed catalog: renaming or removing one of their events or fields, or
/// changing a level, fails here with the list of breaking changes (accept them on purpose with
/// `ACCEPT_CATALOG_CHANGES=1`).
#[test]
fn the_examples_catalog_stays_compatible_with_the_committed_one() {
    let _ = std::mem::size_of::<audit_examples::objects::ObjectCreated<'static>>();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/events.schema.json");
    catalog::assert_compatible_events(path, &catalog::crate_events("audit_examples"));
}
