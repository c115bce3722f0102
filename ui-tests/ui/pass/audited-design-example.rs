// The example of DESIGN.md section 3, as written there.
use audit_runtime::Audited;
use serde::{Deserialize, Serialize};

#[derive(Audited, Clone, Serialize, Deserialize)]
#[audited(object_type = "observation")]
pub struct Observation {
    #[audited(id)]
    pub id: i64,
    pub value: f64,
    pub note: Option<String>,
    #[audited(redact)]
    pub patient_ssn: String,
    #[audited(skip)]
    pub cache: Vec<u8>,
}

fn main() {
    let old = Observation { id: 17, value: 1.0, note: None, patient_ssn: "1".into(), cache: vec![] };
    let new = Observation { value: 2.0, patient_ssn: "2".into(), ..old.clone() };
    let changes: Vec<audit_runtime::FieldChange> = old.changes_to(&new);
    assert_eq!(changes.len(), 2);
    assert_eq!(Observation::object_type(), "observation");
}
