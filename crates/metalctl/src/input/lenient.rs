//! A serde `Deserializer` over a parsed YAML value that reads any scalar as a string where the
//! target wants a string. metal-stack's CLI decodes its files with Go's yaml.v3, which puts a
//! scalar's text into a string field whatever it looks like (`level: 1`, `gpttype: 8300`,
//! `name: true`, `description:`), and metal-stack's own examples rely on it. Everything else
//! behaves as `serde_yaml::Value` does: numbers stay numbers where numbers are wanted, and a
//! string is never read as a number.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_yaml::{Error, Value};

/// A YAML value to deserialize leniently (see the module doc).
pub struct Lenient(pub Value);

/// The text of a scalar as a string field gets it; a null is the empty string, as in Go.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut seq = Seq(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    match seq.0.len() {
        0 => Ok(out),
        _ => Err(de::Error::invalid_length(
            len,
            &"fewer elements in sequence",
        )),
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    map: serde_yaml::Mapping,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = map.len();
    let mut access = Map {
        iter: map.into_iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut access)?;
    match access.iter.len() {
        0 => Ok(out),
        _ => Err(de::Error::invalid_length(len, &"fewer elements in map")),
    }
}

/// Forwards to `serde_yaml::Value`'s own deserializer.
macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Lenient {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Sequence(items) => visit_seq(items, visitor),
            Value::Mapping(map) => visit_map(map, visitor),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match scalar_text(&self.0) {
            Some(text) => visitor.visit_string(text),
            None => self.0.deserialize_string(visitor),
        }
    }

    /// Map keys and struct field names: a key `1:` is the field `"1"`, never field number 1.
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = match &self.0 {
            Value::Null => None,
            other => scalar_text(other),
        };
        match text {
            Some(text) => visitor.visit_string(text),
            None => self.0.deserialize_identifier(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Sequence(items) => visit_seq(items, visitor),
            other => other.deserialize_seq(visitor),
        }
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

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Mapping(map) => visit_map(map, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Mapping(map) => visit_map(map, visitor),
            Value::Sequence(items) => visit_seq(items, visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit
    }
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Lenient(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map {
    iter: serde_yaml::mapping::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Map {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(Lenient(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().ok_or_else(|| {
            <Error as de::Error>::custom("a map value was asked for before its key")
        })?;
        seed.deserialize(Lenient(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(default)]
    struct Doc {
        text: String,
        maybe: Option<String>,
        number: u32,
        float: f64,
        flag: bool,
        list: Vec<String>,
        map: BTreeMap<String, String>,
        nested: Vec<Doc>,
    }

    fn parse(yaml: &str) -> Result<Doc, Error> {
        Doc::deserialize(Lenient(serde_yaml::from_str(yaml).unwrap()))
    }

    #[test]
    fn scalars_are_read_as_strings_where_strings_are_wanted() {
        let doc = parse(
            "text: 1\nmaybe: 1.5\nlist: [1, true, x, 8300]\nmap: {1: 2, a: false}\n\
             nested: [{text: 0.10, maybe: ~}]\n",
        )
        .unwrap();
        assert_eq!(doc.text, "1");
        assert_eq!(doc.maybe.as_deref(), Some("1.5"));
        assert_eq!(doc.list, ["1", "true", "x", "8300"]);
        assert_eq!(doc.map["1"], "2");
        assert_eq!(doc.map["a"], "false");
        assert_eq!(doc.nested[0].text, "0.1");
        assert_eq!(doc.nested[0].maybe, None);
        assert_eq!(parse("text:\n").unwrap().text, "");
    }

    #[test]
    fn numbers_stay_numbers_and_strings_stay_strings() {
        let doc = parse("number: 7\nfloat: 2\nflag: true\n").unwrap();
        assert_eq!((doc.number, doc.float, doc.flag), (7, 2.0, true));
        assert!(parse("number: \"7\"\n").is_err());
        assert!(parse("flag: \"yes\"\n").is_err());
        assert!(parse("text: [a]\n").is_err());
        assert!(parse("list: a\n").is_err());
    }
}
