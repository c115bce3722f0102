//! The [`Audited`] trait and [`FieldChange`]: which fields of an object changed, with their old
//! and new values as JSON.
//!
//! The rules every implementation follows (the derive generates them):
//!
//! - Fields are compared with `PartialEq` first; only a changed field is serialized, so an
//!   unchanged object costs one comparison per field and allocates nothing.
//! - Floats: NaN to NaN is no change. A value that is not equal to itself (it holds a NaN) is
//!   compared through its JSON form instead, where every NaN is `null`.
//! - A field whose type is itself [`Audited`] reports dotted paths (`address.city`); an
//!   `Option` or `Vec` of such a type reports the whole old and new snapshots, so the inner
//!   type's redaction still holds.
//! - A redacted field reports `"[redacted]"` as both its old and new value, never the values.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::logging::REDACTED;

/// An object whose changes are tracked field by field: implemented by `#[derive(Audited)]`.
///
/// ```
/// use audit_runtime::Audited;
/// use serde::Serialize;
///
/// #[derive(Audited, Clone, Serialize)]
/// #[audited(object_type = "observation")]
/// struct Observation {
///     id: i64,
///     value: f64,
///     #[audited(redact)]
///     patient_ssn: String,
/// }
///
/// let old = Observation { id: 17, value: 1.5, patient_ssn: "123-45-6789".into() };
/// let new = Observation { value: 2.5, ..old.clone() };
/// let changes = old.changes_to(&new);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].field, "value");
/// assert_eq!(changes[0].old, serde_json::json!(1.5));
/// assert_eq!(Observation::object_type(), "observation");
/// assert_eq!(old.object_id(), "17");
/// ```
pub trait Audited {
    /// The kind of object, as it appears in entries (`observation`).
    fn object_type() -> &'static str;

    /// The object's identity among objects of its type, as text (`17`).
    fn object_id(&self) -> String;

    /// A human-readable description of the object (its `Display`, a chosen function, or
    /// `"<object type> <id>"`).
    fn object_repr(&self) -> String;

    /// The fields that differ between `self` (the old state) and `new`, in declaration order.
    /// Empty, and without allocating, when nothing changed.
    fn changes_to(&self, new: &Self) -> Vec<FieldChange>;

    /// The object as a JSON object of its tracked fields; redacted and skipped fields are left
    /// out.
    fn snapshot(&self) -> Value;
}

/// One changed field: its name (a dotted path for a nested object) and its old and new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's name as reported (after `rename`), or a dotted path such as `address.city`.
    /// Compares with a `&str`: `change.field == "value"`.
    pub field: Cow<'static, str>,
    /// The value before the change, as JSON (`"[redacted]"` for a redacted field).
    pub old: Value,
    /// The value after the change, as JSON (`"[redacted]"` for a redacted field).
    pub new: Value,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`.
    pub fn new(field: impl Into<Cow<'static, str>>, old: Value, new: Value) -> Self {
        FieldChange { field: field.into(), old, new }
    }

    /// A change of a redacted field: both values are [`REDACTED`].
    pub fn redacted(field: impl Into<Cow<'static, str>>) -> Self {
        FieldChange::new(field, Value::from(REDACTED), Value::from(REDACTED))
    }

    /// Whether this change hides its values.
    pub fn is_redacted(&self) -> bool {
        self.old == REDACTED && self.new == REDACTED
    }

    /// The same change one level down: `city` under `address` becomes `address.city`.
    fn under(mut self, parent: &str) -> Self {
        let mut path = String::with_capacity(parent.len() + 1 + self.field.len());
        path.push_str(parent);
        path.push('.');
        path.push_str(&self.field);
        self.field = Cow::Owned(path);
        self
    }
}

/// JSON of a value; a value that cannot be serialized (a map with non-string keys) becomes its
/// error text rather than a panic or a silent `null`.
fn json_of<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("<unserializable: {e}>")))
}

/// Whether `old` and `new` differ, NaN to NaN being no change.
///
/// `==` decides almost always. Only when both sides are unequal to themselves (they hold a NaN)
/// are their JSON forms compared, where a NaN is `null`.
fn values_differ<T: PartialEq + Serialize + ?Sized>(old: &T, new: &T) -> Option<(Value, Value)> {
    if old == new {
        return None;
    }
    #[allow(clippy::eq_op)] // the point: `x != x` holds exactly for values that contain a NaN
    let both_hold_nan = old != old && new != new;
    let (old, new) = (json_of(old), json_of(new));
    if both_hold_nan && old == new { None } else { Some((old, new)) }
}

/// Items the `#[derive(Audited)]` expansion uses.
///
/// Per field, the derive picks one of the `*Kind` types by autoref specialization on
/// [`FieldProbe`](__private::FieldProbe) (an [`Audited`] type, an `Option` or `Vec` of one, or any other value). The
/// kind's `field` method is the only call that carries a bound a user's type may miss
/// (`PartialEq + Serialize` for a plain value); the derive spans it on the field's type, so an
/// error points there and, being the same call in `changes_to` and `snapshot`, is shown once.
/// The returned `*Field` wrappers do the work without further bounds.
#[doc(hidden)]
pub mod __private {
    use std::fmt::Display;

    use serde::Serialize;
    pub use serde_json::Value;
    pub use std::string::String;
    pub use std::vec::Vec;

    pub use super::{Audited, FieldChange};
    use super::{json_of, values_differ};

    /// Wraps a field (or the object) for the kind selection.
    pub struct FieldProbe<'a, T: ?Sized>(pub &'a T);

    /// A field whose type is [`Audited`]: dotted paths, nested snapshot.
    #[derive(Clone, Copy)]
    pub struct NestedKind;
    /// An `Option` of an [`Audited`] type: whole snapshots as old and new values.
    #[derive(Clone, Copy)]
    pub struct OptionNestedKind;
    /// A `Vec` of an [`Audited`] type: whole arrays of snapshots as old and new values.
    #[derive(Clone, Copy)]
    pub struct VecNestedKind;
    /// Any other field: `PartialEq`, then `Serialize` for the changed ones.
    #[derive(Clone, Copy)]
    pub struct ValueKind;

    /// Highest priority: the field's type is [`Audited`].
    pub trait NestedProbe {
        /// The kind of the probed field.
        fn audit_kind(&self) -> NestedKind {
            NestedKind
        }
    }
    impl<T: Audited> NestedProbe for &&&FieldProbe<'_, T> {}

    /// Second: an `Option` of an [`Audited`] type.
    pub trait OptionNestedProbe {
        /// The kind of the probed field.
        fn audit_kind(&self) -> OptionNestedKind {
            OptionNestedKind
        }
    }
    impl<T: Audited> OptionNestedProbe for &&FieldProbe<'_, Option<T>> {}

    /// Third: a `Vec` of an [`Audited`] type.
    pub trait VecNestedProbe {
        /// The kind of the probed field.
        fn audit_kind(&self) -> VecNestedKind {
            VecNestedKind
        }
    }
    impl<T: Audited> VecNestedProbe for &FieldProbe<'_, Vec<T>> {}

    /// Fallback: any other type.
    pub trait ValueProbe {
        /// The kind of the probed field.
        fn audit_kind(&self) -> ValueKind {
            ValueKind
        }
    }
    impl<T: ?Sized> ValueProbe for FieldProbe<'_, T> {}

    /// The old value of an [`Audited`] field.
    pub struct NestedField<'a, T>(&'a T);
    /// The old value of an `Option` of an [`Audited`] type.
    pub struct OptionNestedField<'a, T>(&'a Option<T>);
    /// The old value of a `Vec` of an [`Audited`] type.
    pub struct VecNestedField<'a, T>(&'a [T]);
    /// The old value of a plain field, with its comparison and serialization.
    pub struct ValueField<'a, T: ?Sized> {
        value: &'a T,
        differ: fn(&T, &T) -> Option<(Value, Value)>,
        json: fn(&T) -> Value,
    }

    impl NestedKind {
        /// The field, compared through its own [`Audited`] impl.
        #[inline]
        pub fn field<T: Audited>(self, value: &T) -> NestedField<'_, T> {
            NestedField(value)
        }
    }
    impl OptionNestedKind {
        /// The field, compared through its objects' [`Audited`] impl.
        #[inline]
        pub fn field<T: Audited>(self, value: &Option<T>) -> OptionNestedField<'_, T> {
            OptionNestedField(value)
        }
    }
    impl VecNestedKind {
        /// The field, compared through its objects' [`Audited`] impl.
        #[inline]
        pub fn field<T: Audited>(self, value: &[T]) -> VecNestedField<'_, T> {
            VecNestedField(value)
        }
    }
    impl ValueKind {
        /// The field, compared with `PartialEq` and serialized when it changed.
        #[inline]
        pub fn field<T: PartialEq + Serialize + ?Sized>(self, value: &T) -> ValueField<'_, T> {
            ValueField { value, differ: values_differ::<T>, json: json_of::<T> }
        }
    }

    impl<T: Audited> NestedField<'_, T> {
        /// Pushes the nested changes as `name.<path>`.
        pub fn push_changes(self, name: &'static str, new: &T, out: &mut Vec<FieldChange>) {
            out.extend(self.0.changes_to(new).into_iter().map(|change| change.under(name)));
        }
        /// Whether anything tracked in the nested object changed (for a redacted field).
        pub fn differs(self, new: &T) -> bool {
            !self.0.changes_to(new).is_empty()
        }
        /// The nested object's snapshot.
        pub fn snapshot(self) -> Value {
            self.0.snapshot()
        }
    }

    impl<T: Audited> OptionNestedField<'_, T> {
        /// Pushes one change with the whole old and new snapshots when they differ.
        pub fn push_changes(self, name: &'static str, new: &Option<T>, out: &mut Vec<FieldChange>) {
            if self.differs(new) {
                out.push(FieldChange::new(name, self.snapshot(), OptionNestedField(new).snapshot()));
            }
        }
        /// Whether one side is `None` and the other is not, or the two objects differ.
        pub fn differs(&self, new: &Option<T>) -> bool {
            match (self.0, new) {
                (None, None) => false,
                (Some(old), Some(new)) => !old.changes_to(new).is_empty(),
                _ => true,
            }
        }
        /// The snapshot, or `null`.
        pub fn snapshot(&self) -> Value {
            self.0.as_ref().map_or(Value::Null, Audited::snapshot)
        }
    }

    impl<T: Audited> VecNestedField<'_, T> {
        /// Pushes one change with the whole old and new arrays of snapshots when they differ.
        pub fn push_changes(self, name: &'static str, new: &[T], out: &mut Vec<FieldChange>) {
            if self.differs(new) {
                out.push(FieldChange::new(name, self.snapshot(), VecNestedField(new).snapshot()));
            }
        }
        /// Whether the lengths differ or any pair of objects differs.
        pub fn differs(&self, new: &[T]) -> bool {
            self.0.len() != new.len() || self.0.iter().zip(new).any(|(old, new)| !old.changes_to(new).is_empty())
        }
        /// The array of snapshots.
        pub fn snapshot(&self) -> Value {
            Value::Array(self.0.iter().map(Audited::snapshot).collect())
        }
    }

    impl<T: ?Sized> ValueField<'_, T> {
        /// Pushes one change with the old and new values when they differ.
        #[inline]
        pub fn push_changes(self, name: &'static str, new: &T, out: &mut Vec<FieldChange>) {
            if let Some((old, new)) = (self.differ)(self.value, new) {
                out.push(FieldChange::new(name, old, new));
            }
        }
        /// Whether the values differ, NaN to NaN being no change (for a redacted field).
        #[inline]
        pub fn differs(self, new: &T) -> bool {
            (self.differ)(self.value, new).is_some()
        }
        /// The value as JSON.
        pub fn snapshot(self) -> Value {
            (self.json)(self.value)
        }
    }

    /// The text of an id field.
    pub fn id_string<T: Display + ?Sized>(id: &T) -> String {
        id.to_string()
    }

    /// The object's `Display`, when it has one: preferred over [`DefaultRepr`].
    pub trait DisplayRepr {
        /// The `Display` text.
        fn audit_repr(&self) -> Option<String>;
    }
    impl<T: Display + ?Sized> DisplayRepr for &FieldProbe<'_, T> {
        fn audit_repr(&self) -> Option<String> {
            Some(self.0.to_string())
        }
    }

    /// No `Display`: the derive falls back to [`default_repr`].
    pub trait DefaultRepr {
        /// Always `None`.
        fn audit_repr(&self) -> Option<String>;
    }
    impl<T: ?Sized> DefaultRepr for FieldProbe<'_, T> {
        fn audit_repr(&self) -> Option<String> {
            None
        }
    }

    /// `"<object type> <id>"`, the repr of a type without `Display` or `repr` function.
    pub fn default_repr(object_type: &str, id: &str) -> String {
        format!("{object_type} {id}")
    }

    /// Marks a redacted field as changed.
    pub fn push_redacted(name: &'static str, out: &mut Vec<FieldChange>) {
        out.push(FieldChange::redacted(name));
    }

    /// An empty snapshot object.
    pub fn snapshot_map() -> serde_json::Map<String, Value> {
        serde_json::Map::new()
    }

    /// Inserts one field into a snapshot.
    pub fn snapshot_insert(map: &mut serde_json::Map<String, Value>, name: &'static str, value: Value) {
        map.insert(name.to_owned(), value);
    }

    /// The snapshot value of a finished map.
    pub fn snapshot_finish(map: serde_json::Map<String, Value>) -> Value {
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_to_nan_is_no_change_but_nan_to_number_is() {
        assert!(values_differ(&f64::NAN, &f64::NAN).is_none());
        assert!(values_differ(&vec![f64::NAN, 1.0], &vec![f64::NAN, 1.0]).is_none());
        assert_eq!(
            values_differ(&vec![f64::NAN, 1.0], &vec![f64::NAN, 2.0]).map(|(_, new)| new),
            Some(serde_json::json!([null, 2.0]))
        );
        assert_eq!(values_differ(&f64::NAN, &1.0), Some((Value::Null, serde_json::json!(1.0))));
    }

    #[test]
    fn field_compares_with_str_and_nests_as_dotted_path() {
        let change = FieldChange::new("city", Value::from("Utrecht"), Value::from("Delft")).under("address");
        assert!(change.field == "address.city");
        assert_eq!(change.field, "address.city");
        assert_eq!(serde_json::to_value(&change).unwrap()["field"], "address.city");
    }

    #[test]
    fn redacted_change_holds_the_marker_only() {
        let change = FieldChange::redacted("patient_ssn");
        assert!(change.is_redacted());
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            serde_json::json!({"field": "patient_ssn", "old": "[redacted]", "new": "[redacted]"})
        );
    }
}
