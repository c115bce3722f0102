//! `changes_to` beside the usual way (serialize both values to `serde_json::Value` and compare
//! key by key), measured in one run.
//!
//! `cargo bench -p audit-runtime --bench changes`
//!
//! - `one_field_changed/*`: a 20-field struct (integers, floats, strings, options, a vector, a
//!   map, a bool, a redacted and a skipped field) with one string field changed.
//! - `nothing_changed/*`: the same struct against an equal copy.

use std::collections::BTreeMap;
use std::hint::black_box;

use audit_runtime::{Audited, FieldChange};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Serialize;
use serde_json::Value;

#[derive(Audited, Clone, Serialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    uuid: String,
    objecttype_version: u32,
    value: f64,
    unit: String,
    note: Option<String>,
    status: String,
    reviewed: bool,
    reviewer: Option<String>,
    ward: u16,
    bed: u16,
    score: f32,
    tags: Vec<String>,
    attributes: BTreeMap<String, String>,
    created_by: String,
    updated_by: String,
    revision: u64,
    source: String,
    #[audited(redact)]
    patient_ssn: String,
    #[audited(skip)]
    #[serde(skip)]
    #[allow(dead_code)] // carried like a real cache; skipped fields are never read by the derive
    cache: Vec<u8>,
}

fn observation() -> Observation {
    Observation {
        id: 17,
        uuid: "1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e".into(),
        objecttype_version: 3,
        value: 37.2,
        unit: "celsius".into(),
        note: Some("measured after lunch".into()),
        status: "final".into(),
        reviewed: true,
        reviewer: Some("dr. jansen".into()),
        ward: 4,
        bed: 12,
        score: 0.75,
        tags: vec!["vital".into(), "temperature".into()],
        attributes: BTreeMap::from([("device".into(), "thermo-3".into()), ("site".into(), "oral".into())]),
        created_by: "nurse-17".into(),
        updated_by: "nurse-17".into(),
        revision: 4,
        source: "ward-app".into(),
        patient_ssn: "123-45-6789".into(),
        cache: vec![0; 64],
    }
}

/// The peer: both values to `serde_json::Value`, then key by key.
fn serialize_and_compare<T: Serialize>(old: &T, new: &T) -> Vec<FieldChange> {
    let (Ok(Value::Object(old)), Ok(Value::Object(mut new))) = (serde_json::to_value(old), serde_json::to_value(new))
    else {
        panic!("both values serialize to JSON objects");
    };
    let mut changes = Vec::new();
    for (field, old_value) in old {
        let new_value = new.remove(&field).unwrap_or(Value::Null);
        if old_value != new_value {
            changes.push(FieldChange::new(field, old_value, new_value));
        }
    }
    changes
}

fn bench_one_field_changed(c: &mut Criterion) {
    let old = observation();
    let mut new = old.clone();
    new.status = "amended".into();
    assert_eq!(old.changes_to(&new).len(), 1);
    assert_eq!(serialize_and_compare(&old, &new).len(), 1);

    let mut group = c.benchmark_group("one_field_changed");
    group.bench_function("audit_runtime_changes_to", |b| b.iter(|| black_box(&old).changes_to(black_box(&new))));
    group.bench_function("serialize_both_and_compare", |b| {
        b.iter(|| serialize_and_compare(black_box(&old), black_box(&new)))
    });
    group.finish();
}

fn bench_nothing_changed(c: &mut Criterion) {
    let old = observation();
    let new = old.clone();
    let mut group = c.benchmark_group("nothing_changed");
    group.bench_function("audit_runtime_changes_to", |b| b.iter(|| black_box(&old).changes_to(black_box(&new))));
    group.bench_function("serialize_both_and_compare", |b| {
        b.iter(|| serialize_and_compare(black_box(&old), black_box(&new)))
    });
    group.finish();
}

criterion_group!(benches, bench_one_field_changed, bench_nothing_changed);
criterion_main!(benches);
