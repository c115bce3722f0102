//! A struct event with every option and every kind of field; no warnings from the expansion.
#![deny(warnings, missing_docs)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use audit_runtime::log_event;
use serde::Serialize;

/// A nested value.
#[derive(Serialize)]
pub struct Detail {
    /// Why.
    pub reason: String,
}

/// Not `Serialize`: fine when redacted, because a redacted value is never read.
pub struct Secret(pub String);

/// Created an `Object` via the API.
#[log_event(name = "object_created", level = "info", group = "Objects")]
pub struct ObjectCreated<'a> {
    /// Integers of every width.
    pub small: u8,
    /// Signed.
    pub signed: i128,
    /// Sizes.
    pub size: usize,
    /// Floats.
    pub ratio: f32,
    /// Booleans.
    pub flag: bool,
    /// Owned strings.
    pub owned: String,
    /// Borrowed strings.
    pub borrowed: &'a str,
    /// Copy-on-write strings.
    pub cow: Cow<'a, str>,
    /// Boxed strings.
    pub boxed: Box<str>,
    /// Options.
    pub maybe: Option<u32>,
    /// Options of references.
    pub maybe_ref: Option<&'a str>,
    /// Nested structs.
    pub detail: Detail,
    /// References to nested structs.
    pub detail_ref: &'a Detail,
    /// Lists.
    pub list: Vec<String>,
    /// Slices.
    pub slice: &'a [u16],
    /// Arrays.
    pub array: [u8; 4],
    /// Maps.
    pub map: HashMap<String, u32>,
    /// Ordered maps.
    pub ordered: BTreeMap<String, Option<bool>>,
    /// Tuples.
    pub pair: (u8, String),
    /// Characters.
    pub letter: char,
    /// Raw identifiers are written without `r#`.
    pub r#type: &'a str,
    /// Redacted, of a type that cannot be logged.
    #[event(redact)]
    pub secret: Secret,
}

fn main() {
    let detail = Detail { reason: "why".into() };
    ObjectCreated {
        small: 1,
        signed: -1,
        size: 2,
        ratio: 0.5,
        flag: true,
        owned: "owned".into(),
        borrowed: "borrowed",
        cow: Cow::Borrowed("cow"),
        boxed: "boxed".into(),
        maybe: None,
        maybe_ref: Some("x"),
        detail: Detail { reason: "because".into() },
        detail_ref: &detail,
        list: vec!["a".into()],
        slice: &[1, 2],
        array: [1, 2, 3, 4],
        map: HashMap::new(),
        ordered: BTreeMap::new(),
        pair: (1, "one".into()),
        letter: 'x',
        r#type: "kind",
        secret: Secret("s3cr3t".into()),
    }
    .emit();
    let schema = audit_runtime::catalog::events().into_iter().find(|e| e.name == "object_created").unwrap();
    assert_eq!(
        schema.fields.iter().find(|f| f.type_name == "&str" && f.name == "type").map(|f| f.redacted),
        Some(false)
    );
}
