//! `#[derive(Audited)]`: every kind of field, nesting, options, snapshots and redaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use audit_runtime::{Audited, FieldChange};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Audited, Clone, Debug, PartialEq, Serialize)]
#[audited(object_type = "address")]
struct Address {
    #[audited(id)]
    key: u32,
    street: String,
    city: String,
    #[audited(redact)]
    door_code: String,
}

/// A nested type without `PartialEq`: compared through its own `changes_to`.
#[derive(Audited, Clone, Serialize)]
struct Contact {
    id: u32,
    phone: String,
}

#[derive(Audited, Clone, Serialize)]
struct Patient {
    id: i64,
    age: u8,
    weight_kg: f64,
    active: bool,
    initial: char,
    name: String,
    note: Option<String>,
    tags: Vec<String>,
    scores: BTreeMap<String, i32>,
    limits: HashMap<String, u64>,
    wards: BTreeSet<u16>,
    address: Address,
    contact: Contact,
    previous_address: Option<Address>,
    contacts: Vec<Contact>,
    #[audited(rename = "ssn")]
    patient_ssn_number: String,
    #[audited(redact)]
    diagnosis: String,
    #[audited(skip)]
    #[allow(dead_code)]
    cache: Vec<u8>,
}

fn patient() -> Patient {
    Patient {
        id: 17,
        age: 40,
        weight_kg: 71.5,
        active: true,
        initial: 'J',
        name: "Jane".into(),
        note: None,
        tags: vec!["a".into()],
        scores: BTreeMap::from([("x".into(), 1)]),
        limits: HashMap::from([("daily".into(), 10)]),
        wards: BTreeSet::from([3]),
        address: Address { key: 1, street: "Main 1".into(), city: "Utrecht".into(), door_code: "4711".into() },
        contact: Contact { id: 5, phone: "+31 6 1234".into() },
        previous_address: None,
        contacts: vec![Contact { id: 6, phone: "+31 6 5678".into() }],
        patient_ssn_number: "123-45-6789".into(),
        diagnosis: "secret diagnosis".into(),
        cache: vec![1, 2, 3],
    }
}

/// The one change between `patient()` and `edit(patient())`.
fn single_change(edit: impl FnOnce(&mut Patient)) -> FieldChange {
    let old = patient();
    let mut new = old.clone();
    edit(&mut new);
    let mut changes = old.changes_to(&new);
    assert_eq!(changes.len(), 1, "expected one change, got {changes:?}");
    changes.remove(0)
}

#[test]
fn scalar_fields_report_old_and_new_json() {
    let change = single_change(|p| p.age = 41);
    assert_eq!((change.field.as_ref(), change.old, change.new), ("age", json!(40), json!(41)));
    let change = single_change(|p| p.weight_kg = 70.25);
    assert_eq!((change.field.as_ref(), change.old, change.new), ("weight_kg", json!(71.5), json!(70.25)));
    let change = single_change(|p| p.active = false);
    assert_eq!((change.field.as_ref(), change.old, change.new), ("active", json!(true), json!(false)));
    let change = single_change(|p| p.initial = 'K');
    assert_eq!((change.field.as_ref(), change.old, change.new), ("initial", json!("J"), json!("K")));
}

#[test]
fn string_field_reports_old_and_new_text() {
    let change = single_change(|p| p.name = "Janet".into());
    assert!(change.field == "name");
    assert_eq!((change.old, change.new), (json!("Jane"), json!("Janet")));
}

#[test]
fn option_field_reports_whole_values_including_null() {
    let change = single_change(|p| p.note = Some("allergic".into()));
    assert_eq!((change.field.as_ref(), change.old, change.new), ("note", Value::Null, json!("allergic")));
}

#[test]
fn collections_report_whole_old_and_new_values() {
    let change = single_change(|p| p.tags.push("b".into()));
    assert_eq!((change.field.as_ref(), change.old, change.new), ("tags", json!(["a"]), json!(["a", "b"])));
    let change = single_change(|p| {
        p.scores.insert("y".into(), 2);
    });
    assert_eq!((change.field.as_ref(), change.old, change.new), ("scores", json!({"x": 1}), json!({"x": 1, "y": 2})));
    let change = single_change(|p| {
        p.limits.insert("daily".into(), 20);
    });
    assert_eq!((change.field.as_ref(), change.old, change.new), ("limits", json!({"daily": 10}), json!({"daily": 20})));
    let change = single_change(|p| {
        p.wards.insert(1);
    });
    assert_eq!((change.field.as_ref(), change.old, change.new), ("wards", json!([3]), json!([1, 3])));
}

#[test]
fn nested_audited_field_reports_dotted_paths() {
    let change = single_change(|p| p.address.city = "Delft".into());
    assert_eq!((change.field.as_ref(), change.old, change.new), ("address.city", json!("Utrecht"), json!("Delft")));
    // A nested type without `PartialEq` is compared through its own `changes_to`.
    let change = single_change(|p| p.contact.phone = "+31 6 0000".into());
    assert_eq!(change.field, "contact.phone");
}

#[test]
fn nested_redacted_field_stays_redacted_under_its_path() {
    let change = single_change(|p| p.address.door_code = "0000".into());
    assert_eq!(change, FieldChange::redacted("address.door_code"));
}

#[test]
fn option_and_vec_of_audited_report_snapshots_without_redacted_values() {
    let change = single_change(|p| p.previous_address = Some(patient().address));
    assert_eq!(change.field, "previous_address");
    assert_eq!(change.old, Value::Null);
    assert_eq!(change.new, json!({"key": 1, "street": "Main 1", "city": "Utrecht"}));

    let change = single_change(|p| p.contacts[0].phone = "+31 6 9999".into());
    assert_eq!(change.field, "contacts");
    assert_eq!(change.new, json!([{"id": 6, "phone": "+31 6 9999"}]));
}

#[test]
fn renamed_field_is_reported_under_its_new_name() {
    let change = single_change(|p| p.patient_ssn_number = "987-65-4321".into());
    assert_eq!(change.field, "ssn");
    assert_eq!(patient().snapshot()["ssn"], json!("123-45-6789"));
    assert!(patient().snapshot().get("patient_ssn_number").is_none());
}

#[test]
fn skipped_field_is_not_compared_nor_snapshotted() {
    let old = patient();
    let mut new = old.clone();
    new.cache = vec![9; 100];
    assert!(old.changes_to(&new).is_empty());
    assert!(old.snapshot().get("cache").is_none());
}

#[test]
fn redacted_field_reports_a_change_without_values() {
    let change = single_change(|p| p.diagnosis = "another secret".into());
    assert_eq!(
        serde_json::to_value(&change).unwrap(),
        json!({"field": "diagnosis", "old": "[redacted]", "new": "[redacted]"})
    );
    assert!(!format!("{change:?}").contains("secret"));
}

#[test]
fn snapshot_holds_tracked_fields_and_no_secret() {
    let snapshot = patient().snapshot();
    let object = snapshot.as_object().expect("a snapshot is a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "address",
            "age",
            "contact",
            "contacts",
            "id",
            "initial",
            "limits",
            "name",
            "note",
            "previous_address",
            "scores",
            "ssn",
            "tags",
            "wards",
            "weight_kg"
        ]
    );
    assert_eq!(snapshot["address"], json!({"key": 1, "street": "Main 1", "city": "Utrecht"}));
    let text = snapshot.to_string();
    assert!(!text.contains("secret diagnosis"));
    assert!(!text.contains("4711"), "the nested redacted door code leaked: {text}");
}

#[test]
fn no_change_gives_no_field_changes() {
    let old = patient();
    assert!(old.changes_to(&old.clone()).is_empty());
}

#[test]
fn several_changes_come_in_declaration_order() {
    let old = patient();
    let mut new = old.clone();
    new.diagnosis = "x".into();
    new.age = 1;
    new.address.street = "Side 2".into();
    let fields: Vec<String> = old.changes_to(&new).into_iter().map(|c| c.field.into_owned()).collect();
    assert_eq!(fields, ["age", "address.street", "diagnosis"]);
}

#[test]
fn identity_defaults_and_options() {
    let p = patient();
    assert_eq!(Patient::object_type(), "patient");
    assert_eq!(p.object_id(), "17");
    assert_eq!(p.object_repr(), "patient 17");
    assert_eq!(Address::object_type(), "address");
    assert_eq!(p.address.object_id(), "1");
}

#[derive(Audited, Clone, Serialize)]
struct Reading {
    id: u32,
    value: f64,
    values: Vec<f32>,
    maybe: Option<f64>,
    #[audited(redact)]
    hidden: f64,
}

#[test]
fn nan_to_nan_is_no_change() {
    let old = Reading { id: 1, value: f64::NAN, values: vec![f32::NAN, 1.0], maybe: Some(f64::NAN), hidden: f64::NAN };
    assert!(old.changes_to(&old.clone()).is_empty());
}

#[test]
fn nan_to_number_and_back_is_a_change() {
    let nan = Reading { id: 1, value: f64::NAN, values: vec![f32::NAN], maybe: None, hidden: 0.0 };
    let number = Reading { value: 2.0, values: vec![f32::NAN, 2.0], ..nan.clone() };
    let changes = nan.changes_to(&number);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!((changes[0].field.as_ref(), &changes[0].old, &changes[0].new), ("value", &Value::Null, &json!(2.0)));
    assert_eq!(changes[1].new, json!([null, 2.0]));
    assert_eq!(number.changes_to(&nan).len(), 2);
}

/// `repr` as a function, and a custom `object_type`.
#[derive(Audited, Clone, Serialize)]
#[audited(object_type = "ward_bed", repr = Bed::label)]
struct Bed {
    #[audited(id)]
    number: u16,
    ward: String,
}

impl Bed {
    fn label(&self) -> String {
        format!("bed {} in {}", self.number, self.ward)
    }
}

/// A type with `Display` uses it as its repr.
#[derive(Audited, Clone, Serialize)]
struct Ward {
    id: uuid::Uuid,
    name: String,
}

impl std::fmt::Display for Ward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ward {}", self.name)
    }
}

#[test]
fn repr_comes_from_the_repr_function_or_display() {
    let bed = Bed { number: 12, ward: "ICU".into() };
    assert_eq!(Bed::object_type(), "ward_bed");
    assert_eq!(bed.object_id(), "12");
    assert_eq!(bed.object_repr(), "bed 12 in ICU");
    let id = uuid::Uuid::new_v4();
    let ward = Ward { id, name: "Cardiology".into() };
    assert_eq!(ward.object_repr(), "ward Cardiology");
    assert_eq!(ward.object_id(), id.to_string());
}

/// Generic structs: type parameters of tracked fields get `PartialEq + Serialize` bounds.
#[derive(Audited, Clone, Serialize)]
struct Setting<T> {
    id: String,
    value: T,
}

#[test]
fn generic_struct_compares_its_parameter_as_a_value() {
    let old = Setting { id: "timeout".into(), value: 30u32 };
    let new = Setting { value: 60, ..old.clone() };
    let changes = old.changes_to(&new);
    assert_eq!(changes, [FieldChange::new("value", json!(30), json!(60))]);
}
