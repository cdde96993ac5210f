//! Every answer the test client receives is checked against metal-stack's reference contract
//! (`../shared/reference/metal-api-v1.swagger.json`): the response schema of the matched path,
//! verb and status (or the operation's `default`, the error body), followed through its
//! `$ref` definitions. A required field must be present and not `null`, every value must have
//! the reference's JSON type (an `integer` has no fraction, a `date-time` parses) and a value
//! of an `enum` must be one of it. Strict clients (metal-python's generated models) refuse
//! exactly these; a violation panics in the test that produced it.
//!
//! Paths the reference does not know (metrics, our own additions) are not checked; fields
//! the reference does not name are allowed.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The reference document, read once.
pub fn reference() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::env::var("METAL_REFERENCE_SWAGGER").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/reference/metal-api-v1.swagger.json"
            )
            .to_string()
        });
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading the reference contract {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    })
}

/// The reference path template a request path (relative to the base, query allowed) matches:
/// the template with the most literal segments among those of the same length.
pub fn match_path<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or_default();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut best: Option<(&str, usize)> = None;
    for template in doc["paths"].as_object()?.keys() {
        let t: Vec<&str> = template.trim_matches('/').split('/').collect();
        if t.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = t.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(_, l)| literal > l) {
            best = Some((template, literal));
        }
    }
    best.map(|(t, _)| t)
}

/// The violations of an answer: empty when it conforms or the reference does not describe it.
pub fn check_response(method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let doc = reference();
    let Some(template) = match_path(doc, path) else {
        return vec![];
    };
    let Some(op) = doc["paths"][template].get(method.to_lowercase()) else {
        return vec![];
    };
    let responses = &op["responses"];
    let resp = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"));
    let Some(schema) = resp.and_then(|r| r.get("schema")) else {
        return vec![];
    };
    let mut errors = Vec::new();
    check(doc, schema, body, "$", &mut errors);
    errors
        .into_iter()
        .map(|e| format!("{method} {template} {status}: {e}"))
        .collect()
}

/// Follows `$ref`s to the schema they name.
pub fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        schema = &doc["definitions"][name];
    }
    schema
}

/// Checks `value` against `schema` (a `null` value is a violation: where the reference allows
/// an absent field, [`check_object`] does not call this for it).
pub fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if value.is_null() {
        errors.push(format!("{at} is null"));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!(
                "{at} = {value} is not one of {}",
                Value::from(allowed.clone())
            ));
        }
    }
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            if schema.get("properties").is_some() {
                "object"
            } else {
                ""
            }
        });
    let ok = match ty {
        "string" => match value.as_str() {
            Some(s) if schema["format"] == "date-time" => {
                chrono::DateTime::parse_from_rfc3339(s).is_ok() || {
                    errors.push(format!("{at} = {s:?} is not a date-time"));
                    true
                }
            }
            Some(_) => true,
            None => false,
        },
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
                }
                true
            }
            None => false,
        },
        "object" => match value.as_object() {
            Some(obj) => {
                check_object(doc, schema, obj, at, errors);
                true
            }
            None => false,
        },
        _ => true,
    };
    if !ok {
        errors.push(format!("{at} = {value} is not of type {ty}"));
    }
}

fn check_object(
    doc: &Value,
    schema: &Value,
    obj: &Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in &required {
        match obj.get(*name) {
            None => errors.push(format!("{at}.{name} is required but missing")),
            Some(Value::Null) => errors.push(format!("{at}.{name} is required but null")),
            Some(_) => {}
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            match obj.get(name) {
                None | Some(Value::Null) => {}
                Some(v) => check(doc, prop, v, &format!("{at}.{name}"), errors),
            }
        }
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
        for (name, v) in obj {
            // Go maps of pointers may carry null values; required-ness does not apply to keys
            if !v.is_null() {
                check(doc, extra, v, &format!("{at}.{name}"), errors);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_match_the_most_literal_template() {
        let doc = reference();
        assert_eq!(match_path(doc, "v1/machine/find"), Some("/v1/machine/find"));
        assert_eq!(
            match_path(doc, "v1/machine/abc/ipmi?x=1"),
            Some("/v1/machine/{id}/ipmi")
        );
        assert_eq!(match_path(doc, "v1/machine/abc"), Some("/v1/machine/{id}"));
        assert_eq!(match_path(doc, "metrics"), None);
    }

    #[test]
    fn required_null_types_and_enums_are_violations() {
        let ipmi = json!({"address": "a", "bmcversion": "", "fru": {}, "interface": "", "last_updated": "0001-01-01T00:00:00Z",
            "mac": "", "password": "", "powerstate": "", "powersupplies": [], "user": "",
            "powermetric": {"averageconsumedwatts": 0, "intervalinmin": 0, "maxconsumedwatts": 0, "minconsumedwatts": 0}});
        let schema = json!({"$ref": "#/definitions/v1.MachineIPMI"});
        let errs = |v: &Value| {
            let mut e = vec![];
            check(reference(), &schema, v, "$", &mut e);
            e
        };
        assert_eq!(errs(&ipmi), Vec::<String>::new());
        let mut bad = ipmi.clone();
        bad["powermetric"] = Value::Null;
        bad["last_updated"] = json!("yesterday");
        bad["powersupplies"] = json!({});
        bad["fru"] = json!({"board_mfg": 7});
        bad.as_object_mut().unwrap().remove("mac");
        assert_eq!(
            errs(&bad),
            vec![
                "$.mac is required but missing",
                "$.powermetric is required but null",
                "$.fru.board_mfg = 7 is not of type string",
                "$.last_updated = \"yesterday\" is not a date-time",
                "$.powersupplies = {} is not of type array",
            ]
        );
        let mut e = vec![];
        check(
            reference(),
            &json!({"type": "string", "enum": ["a", "b"]}),
            &json!("c"),
            "$",
            &mut e,
        );
        assert_eq!(e, vec![r#"$ = "c" is not one of ["a","b"]"#]);
    }
}
