//! Property tests: `changes_to` agrees with the slow, obvious way (serialize both values and
//! compare key by key), and applying the reported new values to the old snapshot gives the new
//! snapshot.

use std::collections::BTreeMap;

use audit_runtime::Audited;
use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;

#[derive(Audited, Clone, Debug, Serialize)]
struct Record {
    id: u32,
    count: i64,
    ratio: f64,
    name: String,
    note: Option<String>,
    tags: Vec<u8>,
    attributes: BTreeMap<String, bool>,
}

fn record() -> impl Strategy<Value = Record> {
    (
        0u32..3,
        -3i64..3,
        prop_oneof![Just(f64::NAN), Just(0.5), Just(-1.0)],
        "[ab]{0,2}",
        proptest::option::of("[xy]{0,1}"),
        proptest::collection::vec(0u8..3, 0..3),
        proptest::collection::btree_map("[pq]", any::<bool>(), 0..2),
    )
        .prop_map(|(id, count, ratio, name, note, tags, attributes)| Record {
            id,
            count,
            ratio,
            name,
            note,
            tags,
            attributes,
        })
}

/// The fields whose JSON differs (NaN is `null` in JSON, so NaN to NaN is equal there too).
fn fields_differing_in_json(old: &Record, new: &Record) -> Vec<String> {
    let (Value::Object(old), Value::Object(new)) =
        (serde_json::to_value(old).unwrap(), serde_json::to_value(new).unwrap())
    else {
        unreachable!("a struct serializes to an object")
    };
    let mut fields: Vec<String> =
        old.iter().filter(|(key, value)| new[key.as_str()] != **value).map(|(key, _)| key.clone()).collect();
    fields.sort();
    fields
}

proptest! {
    #[test]
    fn changes_to_reports_exactly_the_fields_whose_json_differs(old in record(), new in record()) {
        let mut reported: Vec<String> = old.changes_to(&new).into_iter().map(|change| change.field.into_owned()).collect();
        reported.sort();
        prop_assert_eq!(reported, fields_differing_in_json(&old, &new));
    }

    #[test]
    fn old_snapshot_plus_changes_is_new_snapshot(old in record(), new in record()) {
        let mut snapshot = old.snapshot();
        for change in old.changes_to(&new) {
            prop_assert_eq!(&snapshot[change.field.as_ref()], &change.old);
            snapshot[change.field.as_ref()] = change.new;
        }
        prop_assert_eq!(snapshot, new.snapshot());
    }
}
