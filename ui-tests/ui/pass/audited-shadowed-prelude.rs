// The generated code uses absolute paths only: local items named like std's do not break it.
#![allow(dead_code)]
use audit_runtime::Audited;

struct String;
struct Vec;
struct Option;
mod serde_json {}

#[derive(Audited, serde::Serialize)]
struct Tag {
    id: u32,
    label: std::string::String,
}

fn main() {
    let tag = Tag { id: 1, label: "x".into() };
    assert!(tag.changes_to(&Tag { id: 1, label: "x".into() }).is_empty());
}
