//! The class guard behind the conformance checks of the test client: for every operation of
//! the reference contract that the server has, every field the reference's response schema
//! marks required (followed through nested definitions) must be in our generated schema and
//! must not be nullable there. An `Option` added to a response type without a wire value for
//! `None` (see `metal_domain::wire`) fails here, before any client sees a `null`.

use std::collections::BTreeSet;

use metal_testkit::conformance::{reference, resolve};
use serde_json::{Map, Value};

/// Our schema with `$ref`s followed, a single non-null `oneOf` unwrapped and `allOf` merged.
fn ours<'a>(doc: &'a Value, mut s: &'a Value) -> Value {
    loop {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            s = &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")];
        } else if let Some([one]) = s
            .get("oneOf")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter(|x| x["type"] != "null").collect::<Vec<_>>())
            .as_deref()
        {
            s = one;
        } else if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            let mut props = Map::new();
            for p in parts {
                if let Some(o) = ours(doc, p)["properties"].as_object() {
                    props.extend(o.clone());
                }
            }
            return serde_json::json!({"type": "object", "properties": props});
        } else {
            return s.clone();
        }
    }
}

fn nullable(doc: &Value, s: &Value) -> bool {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return nullable(
            doc,
            &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        );
    }
    s["oneOf"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x["type"] == "null"))
        || s["type"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "null"))
}

/// Walks a reference schema beside ours; `seen` stops at definitions already walked.
fn walk(
    doc: &Value,
    r: &Value,
    o: &Value,
    at: &str,
    seen: &mut BTreeSet<String>,
    errors: &mut Vec<String>,
) {
    let name = r["$ref"].as_str().map(str::to_string);
    let r = resolve(reference(), r);
    let o = ours(doc, o);
    if let Some(n) = name {
        if !seen.insert(format!("{n} {o}")) {
            return;
        }
    }
    if r["type"] == "array" {
        walk(
            doc,
            &r["items"],
            &o["items"],
            &format!("{at}[]"),
            seen,
            errors,
        );
        return;
    }
    let required: Vec<&str> = r["required"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (prop, rs) in r["properties"].as_object().into_iter().flatten() {
        let Some(os) = o["properties"].get(prop) else {
            if required.contains(&prop.as_str()) {
                errors.push(format!("{at}.{prop}: required, but not in our schema"));
            }
            continue;
        };
        if required.contains(&prop.as_str()) && nullable(doc, os) {
            errors.push(format!("{at}.{prop}: required, but nullable in our schema"));
        }
        walk(doc, rs, os, &format!("{at}.{prop}"), seen, errors);
    }
}

#[test]
fn required_response_fields_are_never_nullable() {
    let doc: Value = serde_json::from_str(&metal_api::openapi::generate()).unwrap();
    let mut errors = vec![];
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for (path, item) in reference()["paths"].as_object().unwrap() {
        for (verb, op) in item.as_object().unwrap() {
            let Some(our_op) = doc["paths"][path].get(verb) else {
                continue;
            };
            for (status, resp) in op["responses"].as_object().into_iter().flatten() {
                let (Some(rs), Some(os)) = (
                    resp.get("schema"),
                    our_op["responses"][status]["content"]["application/json"].get("schema"),
                ) else {
                    continue;
                };
                checked += 1;
                let at = format!("{} {path} {status}", verb.to_uppercase());
                walk(&doc, rs, os, &at, &mut seen, &mut errors);
            }
        }
    }
    assert!(checked > 100, "only {checked} responses compared");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
