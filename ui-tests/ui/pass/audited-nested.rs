// A field whose type is itself Audited (with or without PartialEq), and Option/Vec of one.
use audit_runtime::Audited;
use serde::Serialize;

#[derive(Audited, Clone, Serialize)]
struct Address {
    id: u32,
    city: String,
}

#[derive(Audited, Clone, Serialize)]
struct Person {
    id: u32,
    home: Address,
    work: Option<Address>,
    previous: Vec<Address>,
}

fn main() {
    let old = Person { id: 1, home: Address { id: 2, city: "Utrecht".into() }, work: None, previous: vec![] };
    let mut new = old.clone();
    new.home.city = "Delft".into();
    assert_eq!(old.changes_to(&new)[0].field, "home.city");
}
