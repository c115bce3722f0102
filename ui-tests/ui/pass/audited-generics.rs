// Type parameters and lifetimes; the trait used through a generic function.
use audit_runtime::Audited;
use serde::Serialize;

#[derive(Audited, Serialize)]
struct Setting<'a, T, U = ()> {
    id: &'a str,
    value: T,
    #[audited(skip)]
    #[serde(skip)]
    _unused: std::marker::PhantomData<U>,
}

fn changed_fields<T: Audited>(old: &T, new: &T) -> Vec<String> {
    old.changes_to(new).into_iter().map(|change| change.field.into_owned()).collect()
}

fn main() {
    let old: Setting<'_, u32> = Setting { id: "timeout", value: 30, _unused: std::marker::PhantomData };
    let new = Setting { id: "timeout", value: 60, _unused: std::marker::PhantomData };
    assert_eq!(changed_fields(&old, &new), ["value"]);
    assert_eq!(<Setting<'_, u32>>::object_type(), "setting");
}
