//! The keys a type reads, at every nesting level, for suggesting the key an unknown one was
//! probably meant to be. Found by driving the type's `Deserialize` with a probe that answers
//! every struct with all its fields (the derive names them in `deserialize_struct`), every list
//! with one element and every option with a value. Values a type refuses (a timestamp from an
//! empty string) are left out on the next try, so one such field does not hide the others.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::de::value::{Error, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// Known keys by shape: a path of keys with `[]` for list elements (`disks[].partitions[]`;
/// the document itself is the empty shape).
pub type Schema = BTreeMap<String, &'static [&'static str]>;

/// The keys `T` reads, as far as the probe finds them.
pub fn of<T: DeserializeOwned>() -> Schema {
    let state = RefCell::new(State::default());
    for _ in 0..32 {
        state.borrow_mut().failed = None;
        let probe = Probe {
            shape: String::new(),
            state: &state,
            depth: 0,
        };
        if T::deserialize(probe).is_ok() {
            break;
        }
        let mut s = state.borrow_mut();
        match s.failed.take() {
            Some(shape) if !shape.is_empty() && !s.skip.contains(&shape) => {
                s.skip.insert(shape);
            }
            _ => break,
        }
    }
    state.into_inner().known
}

/// The shape of a key below `parent`.
pub fn key_shape(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

#[derive(Default)]
struct State {
    known: Schema,
    /// Shapes left out because their value was refused.
    skip: BTreeSet<String>,
    /// The innermost shape whose value was refused in this try.
    failed: Option<String>,
}

const NO_FIELDS: &[&str] = &[];

/// How deep the probe goes; recursive types end here.
const MAX_DEPTH: usize = 8;

struct Probe<'a> {
    shape: String,
    state: &'a RefCell<State>,
    depth: usize,
}

impl<'a> Probe<'a> {
    fn child(&self, shape: String) -> Self {
        Probe {
            shape,
            state: self.state,
            depth: self.depth + 1,
        }
    }

    /// Notes the shape of a refused value.
    fn check<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            let mut s = self.state.borrow_mut();
            if s.failed.is_none() {
                s.failed = Some(self.shape.clone());
            }
        }
        result
    }

    fn skipped(&self, shape: &str) -> bool {
        self.state.borrow().skip.contains(shape)
    }
}

macro_rules! leaf {
    ($($method:ident => $visit:ident($($value:expr)?);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let result = visitor.$visit($($value)?);
            self.check(result)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Error;

    leaf! {
        deserialize_any => visit_unit();
        deserialize_bool => visit_bool(false);
        deserialize_i8 => visit_i64(0);
        deserialize_i16 => visit_i64(0);
        deserialize_i32 => visit_i64(0);
        deserialize_i64 => visit_i64(0);
        deserialize_u8 => visit_u64(0);
        deserialize_u16 => visit_u64(0);
        deserialize_u32 => visit_u64(0);
        deserialize_u64 => visit_u64(0);
        deserialize_f32 => visit_f64(0.0);
        deserialize_f64 => visit_f64(0.0);
        deserialize_char => visit_char('x');
        deserialize_str => visit_str("");
        deserialize_string => visit_str("");
        deserialize_identifier => visit_str("");
        deserialize_bytes => visit_bytes(&[]);
        deserialize_byte_buf => visit_bytes(&[]);
        deserialize_unit => visit_unit();
        deserialize_ignored_any => visit_unit();
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let shape = format!("{}[]", self.shape);
        let element = (self.depth < MAX_DEPTH && !self.skipped(&shape)).then(|| self.child(shape));
        let result = visitor.visit_seq(OneElement(element));
        self.check(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    /// Maps with keys of the user's choosing: nothing to learn.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_map(Fields {
            probe: &self,
            fields: NO_FIELDS.iter(),
            value: None,
        });
        self.check(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.state
            .borrow_mut()
            .known
            .insert(self.shape.clone(), fields);
        let fields = if self.depth < MAX_DEPTH {
            fields
        } else {
            NO_FIELDS
        };
        let result = visitor.visit_map(Fields {
            probe: &self,
            fields: fields.iter(),
            value: None,
        });
        self.check(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Some(first) = variants.first() else {
            return self.check(Err(de::Error::custom("an enum without variants")));
        };
        let result = visitor.visit_enum(FirstVariant {
            name: first,
            probe: &self,
        });
        self.check(result)
    }
}

struct OneElement<'a>(Option<Probe<'a>>);

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|p| seed.deserialize(p)).transpose()
    }
}

/// A struct with all its fields (less the skipped ones).
struct Fields<'p, 'a> {
    probe: &'p Probe<'a>,
    fields: std::slice::Iter<'static, &'static str>,
    value: Option<String>,
}

impl<'de> MapAccess<'de> for Fields<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for field in self.fields.by_ref() {
            let shape = key_shape(&self.probe.shape, field);
            if self.probe.skipped(&shape) {
                continue;
            }
            self.value = Some(shape);
            let key: StrDeserializer<Error> = field.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let shape = self.value.take().unwrap_or_default();
        seed.deserialize(self.probe.child(shape))
    }
}

struct FirstVariant<'p, 'a> {
    name: &'static str,
    probe: &'p Probe<'a>,
}

impl<'de, 'p, 'a> EnumAccess<'de> for FirstVariant<'p, 'a> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let key: StrDeserializer<Error> = self.name.into_deserializer();
        Ok((seed.deserialize(key)?, self))
    }
}

impl<'de> VariantAccess<'de> for FirstVariant<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.probe.child(self.probe.shape.clone()))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self.probe.child(self.probe.shape.clone()), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(
            self.probe.child(self.probe.shape.clone()),
            "",
            fields,
            visitor,
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Top {
        id: String,
        created: Option<DateTime<Utc>>,
        constraints: Inner,
        disks: Vec<Disk>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        images: BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Disk {
        device: String,
        partitions: Vec<Partition>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Partition {
        number: u8,
        when: DateTime<Utc>,
        label: Option<String>,
    }

    #[test]
    fn finds_the_keys_at_every_level_past_refused_values() {
        let schema = of::<Top>();
        assert_eq!(schema[""], ["id", "created", "constraints", "disks"]);
        assert_eq!(schema["constraints"], ["images"]);
        assert_eq!(schema["disks[]"], ["device", "partitions"]);
        assert_eq!(schema["disks[].partitions[]"], ["number", "when", "label"]);
    }
}
