//! Integer widths as bounds. utoipa (with its `non_strict_integers` feature) writes the Rust
//! width of an integer field as its `format` (`uint8`, `int16`, `uint64`, ...), which OpenAPI
//! tools do not know. This pass rewrites each to the standard format of its JSON width (`int32`
//! or `int64`) with the `minimum` and `maximum` of the Rust type, so that the document declares
//! what the server's parse enforces: a `u8` field answers 400 to `256`, and the document says
//! `maximum: 255`. A 32-bit float (`format: float`) gets the range of an `f32`. Bounds written
//! on a field (`#[schema(minimum = 16)]`) are kept when tighter.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Object, Schema, SchemaFormat,
};
use utoipa::openapi::{Content, OpenApi, RefOr};
use utoipa::Number;

/// The standard format and the bounds of a width utoipa names.
fn width(format: &KnownFormat) -> Option<(KnownFormat, i128, i128)> {
    Some(match format {
        KnownFormat::Int8 => (KnownFormat::Int32, i8::MIN.into(), i8::MAX.into()),
        KnownFormat::Int16 => (KnownFormat::Int32, i16::MIN.into(), i16::MAX.into()),
        KnownFormat::Int32 => (KnownFormat::Int32, i32::MIN.into(), i32::MAX.into()),
        KnownFormat::Int64 => (KnownFormat::Int64, i64::MIN.into(), i64::MAX.into()),
        KnownFormat::UInt8 => (KnownFormat::Int32, 0, u8::MAX.into()),
        KnownFormat::UInt16 => (KnownFormat::Int32, 0, u16::MAX.into()),
        KnownFormat::UInt32 => (KnownFormat::Int64, 0, u32::MAX.into()),
        // int64 bounds it below u64::MAX already: the document is stricter than the parse there
        KnownFormat::UInt64 => (KnownFormat::Int64, 0, i64::MAX.into()),
        _ => return None,
    })
}

fn number(n: i128) -> Number {
    match usize::try_from(n) {
        Ok(u) => Number::UInt(u),
        Err(_) => Number::Int(n as isize),
    }
}

fn value(n: &Number) -> f64 {
    match n {
        Number::Int(i) => *i as f64,
        Number::UInt(u) => *u as f64,
        Number::Float(f) => *f,
    }
}

/// `f32::MAX` as JSON carries it: its shortest text read as an f64.
const F32_MAX_AS_WRITTEN: f64 = 3.4028235e38;

fn bound_object(o: &mut Object) {
    let Some(SchemaFormat::KnownFormat(format)) = &o.format else {
        return;
    };
    if *format == KnownFormat::Float {
        // an f32 reads 1e39 as infinity, which JSON cannot write back; the bound is f32::MAX as
        // the server writes it (its shortest text, 3.4028235e38), a little above its exact
        // value, and every number up to it still reads as a finite f32
        let max = F32_MAX_AS_WRITTEN;
        if o.minimum.as_ref().is_none_or(|m| value(m) < -max) {
            o.minimum = Some(Number::Float(-max));
        }
        if o.maximum.as_ref().is_none_or(|m| value(m) > max) {
            o.maximum = Some(Number::Float(max));
        }
        return;
    }
    let Some((standard, min, max)) = width(format) else {
        return;
    };
    // the 32- and 64-bit signed widths are what their format says already
    let narrower = !matches!(format, KnownFormat::Int32 | KnownFormat::Int64);
    let implied: i128 = if standard == KnownFormat::Int64 {
        i64::MAX.into()
    } else {
        i32::MAX.into()
    };
    o.format = Some(SchemaFormat::KnownFormat(standard));
    if !narrower {
        return;
    }
    if o.minimum.as_ref().is_none_or(|m| value(m) < min as f64) {
        o.minimum = Some(number(min));
    }
    if max < implied && o.maximum.as_ref().is_none_or(|m| value(m) > max as f64) {
        o.maximum = Some(number(max));
    }
}

/// Applies the bounds to `schema` and every schema inside it.
pub fn bound_schema(schema: &mut Schema) {
    match schema {
        Schema::Object(o) => {
            bound_object(o);
            o.properties.values_mut().for_each(bound_ref);
            if let Some(AdditionalProperties::RefOr(r)) = o.additional_properties.as_deref_mut() {
                bound_ref(r);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                bound_ref(items);
            }
            a.prefix_items.iter_mut().for_each(bound_schema);
        }
        Schema::OneOf(s) => s.items.iter_mut().for_each(bound_ref),
        Schema::AllOf(s) => s.items.iter_mut().for_each(bound_ref),
        Schema::AnyOf(s) => s.items.iter_mut().for_each(bound_ref),
        _ => {}
    }
}

fn bound_ref(r: &mut RefOr<Schema>) {
    if let RefOr::T(s) = r {
        bound_schema(s);
    }
}

fn bound_content(c: &mut Content) {
    if let Some(s) = &mut c.schema {
        bound_ref(s);
    }
}

fn bound_operation(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        if let Some(s) = &mut p.schema {
            bound_ref(s);
        }
    }
    if let Some(body) = &mut op.request_body {
        body.content.values_mut().for_each(bound_content);
    }
    for r in op.responses.responses.values_mut() {
        if let RefOr::T(r) = r {
            r.content.values_mut().for_each(bound_content);
        }
    }
}

/// Applies the bounds everywhere in the document: component schemas and the parameters,
/// request bodies and responses of every operation.
pub fn apply(doc: &mut OpenApi) {
    if let Some(components) = &mut doc.components {
        components.schemas.values_mut().for_each(bound_ref);
    }
    for item in doc.paths.paths.values_mut() {
        item_operations(item).for_each(bound_operation);
    }
}

/// The operations of a path item (the verbs the route table uses).
pub(crate) fn item_operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    fn int(format: KnownFormat) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .build()
    }

    fn bounds(o: &Object) -> (String, Option<f64>, Option<f64>) {
        let f = serde_json::to_value(&o.format).unwrap();
        (
            f.as_str().unwrap_or_default().to_string(),
            o.minimum.as_ref().map(value),
            o.maximum.as_ref().map(value),
        )
    }

    #[test]
    fn widths_become_standard_formats_with_bounds() {
        let cases = [
            (KnownFormat::UInt8, "int32", Some(0.0), Some(255.0)),
            (KnownFormat::Int8, "int32", Some(-128.0), Some(127.0)),
            (KnownFormat::UInt16, "int32", Some(0.0), Some(65535.0)),
            (KnownFormat::Int16, "int32", Some(-32768.0), Some(32767.0)),
            (KnownFormat::UInt32, "int64", Some(0.0), Some(4294967295.0)),
            (KnownFormat::UInt64, "int64", Some(0.0), None),
            (KnownFormat::Int32, "int32", None, None),
            (KnownFormat::Int64, "int64", None, None),
        ];
        for (format, want, min, max) in cases {
            let mut o = int(format.clone());
            bound_object(&mut o);
            assert_eq!(bounds(&o), (want.to_string(), min, max), "{want} {max:?}");
        }
    }

    #[test]
    fn floats_get_the_f32_range() {
        let mut o = ObjectBuilder::new()
            .schema_type(Type::Number)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Float)))
            .build();
        bound_object(&mut o);
        // the bound is what the server writes for f32::MIN and f32::MAX
        let written: f64 = serde_json::to_string(&f32::MAX).unwrap().parse().unwrap();
        assert_eq!(bounds(&o), ("float".into(), Some(-written), Some(written)));
        // and still reads as a finite f32
        let read: f32 = serde_json::from_str(&written.to_string()).unwrap();
        assert!(read.is_finite());
    }

    #[test]
    fn tighter_bounds_of_the_field_stay() {
        let mut o = int(KnownFormat::UInt8);
        o.minimum = Some(Number::UInt(16));
        o.maximum = Some(Number::UInt(30));
        bound_object(&mut o);
        assert_eq!(bounds(&o), ("int32".into(), Some(16.0), Some(30.0)));
    }

    #[test]
    fn nested_schemas_are_bounded() {
        let map = ObjectBuilder::new()
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
                int(KnownFormat::UInt8),
            )))))
            .build();
        let mut s = Schema::Object(ObjectBuilder::new().property("lengths", map).build());
        bound_schema(&mut s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["properties"]["lengths"]["additionalProperties"]["maximum"],
            255
        );
    }
}
