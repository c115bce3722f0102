//! Reading a version's snapshot as the current type when the snapshot lacks fields it never
//! stored (redacted and skipped ones): [`AuditStore::versions`](super::AuditStore::versions) has
//! no current object to take them from, so they are shown empty (`""`, `0`, `false`, `[]`,
//! `None`) instead of failing the whole listing.

use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// `snapshot` as a `T`; when serde refuses it, again with every field `T` declares and the
/// snapshot lacks given an empty value. The first error is returned when that fails too.
pub(crate) fn with_missing_fields_empty<T: DeserializeOwned>(snapshot: Value) -> Result<T, serde_json::Error> {
    match serde_json::from_value::<T>(snapshot.clone()) {
        Ok(object) => Ok(object),
        Err(first) => T::deserialize(FillMissing(snapshot)).map_err(|_| first),
    }
}

/// A snapshot whose struct fields missing from the map read as [`Empty`].
struct FillMissing(Value);

impl<'de> Deserializer<'de> for FillMissing {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Filled::new(map, fields)),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_option(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// The snapshot's fields, then the declared fields it lacks, each as [`Empty`].
struct Filled {
    present: serde_json::map::IntoIter,
    missing: std::vec::IntoIter<&'static str>,
    value: Option<Value>,
}

impl Filled {
    fn new(map: Map<String, Value>, fields: &'static [&'static str]) -> Self {
        let missing: Vec<&'static str> = fields.iter().copied().filter(|f| !map.contains_key(*f)).collect();
        Filled { present: map.into_iter(), missing: missing.into_iter(), value: None }
    }
}

impl<'de> MapAccess<'de> for Filled {
    type Error = serde_json::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        if let Some((key, value)) = self.present.next() {
            self.value = Some(value);
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
        match self.missing.next() {
            Some(key) => {
                self.value = None;
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => seed.deserialize(Empty),
        }
    }
}

/// The empty value of whatever type reads it: `""`, `0`, `false`, `[]`, `{}`, `None`, and a
/// struct of empty fields. Enums and characters have none: they fail as before.
struct Empty;

impl<'de> Deserializer<'de> for Empty {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bool(false)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_i64(0)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_u64(0)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_f64(0.0)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_f64(0.0)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str("")
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str("")
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(&[])
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(&[])
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_seq(Nothing)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Nothing)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Filled::new(Map::new(), fields))
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char unit unit_struct tuple tuple_struct enum identifier ignored_any
    }
}

/// An empty sequence or map.
struct Nothing;

impl<'de> SeqAccess<'de> for Nothing {
    type Error = serde_json::Error;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, _seed: T) -> Result<Option<T::Value>, Self::Error> {
        Ok(None)
    }
}

impl<'de> MapAccess<'de> for Nothing {
    type Error = serde_json::Error;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, _seed: K) -> Result<Option<K::Value>, Self::Error> {
        Ok(None)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, _seed: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("no value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Inner {
        label: String,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Observation {
        id: i64,
        value: f64,
        note: Option<String>,
        patient_ssn: String,
        cache: Vec<u8>,
        inner: Inner,
        #[serde(default = "seven")]
        defaulted: u32,
    }

    fn seven() -> u32 {
        7
    }

    #[test]
    fn missing_fields_read_as_empty_values() {
        let snapshot = serde_json::json!({"id": 17, "value": 1.5, "note": "n"});
        let object: Observation = with_missing_fields_empty(snapshot).unwrap();
        assert_eq!(object.id, 17);
        assert_eq!(object.note.as_deref(), Some("n"));
        assert_eq!(object.patient_ssn, "");
        assert!(object.cache.is_empty());
        assert_eq!(object.inner, Inner { label: String::new() });
    }

    #[test]
    fn a_complete_snapshot_keeps_serde_defaults_and_a_wrong_one_keeps_its_error() {
        let full = serde_json::json!({
            "id": 1, "value": 0.5, "note": null, "patient_ssn": "x", "cache": [1], "inner": {"label": "a"}
        });
        let object: Observation = with_missing_fields_empty(full).unwrap();
        assert_eq!(object.defaulted, 7);
        let wrong = serde_json::json!({"id": "not a number"});
        let error = with_missing_fields_empty::<Observation>(wrong).unwrap_err();
        assert!(error.to_string().contains("invalid type"), "{error}");
    }
}
