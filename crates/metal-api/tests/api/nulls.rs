//! `null` for every optional field of every request body the reference contract defines, on
//! every operation of it that this server implements: metal-api (Go) reads `null` as absent,
//! and clients send it (metal-python's `None`). No answer may be a 400 "invalid type: null" or
//! a 500. Each body is sent twice: with the optional fields `null`, and with the optional
//! objects filled in (their own optional fields `null`), so that nested `null`s are fed too.
//! The answers, errors included, go through the test client's check against the contract.

use std::time::Duration;

use metal_testkit::backend_test;
use metal_testkit::conformance::{reference, resolve};
use reqwest::Method;
use serde_json::{Map, Value};

/// How deep optional objects are filled in (the definitions refer to themselves in places).
const DEPTH: usize = 4;

/// A body for `schema`: required fields with a plausible value, optional ones `null`, or (with
/// `fill`) optional objects filled in the same way.
fn sample(doc: &Value, schema: &Value, fill: bool, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("string") if schema["format"] == "date-time" => "2024-01-01T00:00:00Z".into(),
        Some("string") => "x".into(),
        Some("integer") | Some("number") => 1.into(),
        Some("boolean") => false.into(),
        Some("array") if fill && depth > 0 && is_object(doc, &schema["items"]) => {
            Value::Array(vec![sample(doc, &schema["items"], fill, depth - 1)])
        }
        Some("array") => Value::Array(vec![]),
        _ => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut obj = Map::new();
            for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
                let v = if required.contains(&name.as_str()) {
                    sample(doc, prop, fill, depth.saturating_sub(1))
                } else if fill && depth > 0 && (is_object(doc, prop) || is_array(doc, prop)) {
                    sample(doc, prop, fill, depth - 1)
                } else {
                    Value::Null
                };
                obj.insert(name.clone(), v);
            }
            Value::Object(obj)
        }
    }
}

fn is_object(doc: &Value, schema: &Value) -> bool {
    resolve(doc, schema)["properties"].is_object()
}

fn is_array(doc: &Value, schema: &Value) -> bool {
    resolve(doc, schema)["type"] == "array"
}

/// (verb, path, body schema) of each reference operation with a body that the server has.
fn operations_with_bodies() -> Vec<(String, String, Value)> {
    let ours: Value = serde_json::from_str(&metal_api::openapi::generate()).unwrap();
    let mut out = vec![];
    for (path, item) in reference()["paths"].as_object().unwrap() {
        for (verb, op) in item.as_object().unwrap() {
            let Some(body) = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["in"] == "body")
            else {
                continue;
            };
            if ours["paths"][path].get(verb).is_some() {
                out.push((verb.to_uppercase(), path.clone(), body["schema"].clone()));
            }
        }
    }
    out
}

backend_test!(null_reads_as_absent_in_every_request_body, |api| {
    let doc = reference();
    let c = api.admin();
    let ops = operations_with_bodies();
    assert!(ops.len() > 40, "only {} operations with bodies", ops.len());
    let mut failures = vec![];
    for (verb, path, schema) in &ops {
        let url = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(verb.as_bytes()).unwrap();
        for fill in [false, true] {
            let body = sample(doc, schema, fill, DEPTH);
            let r = tokio::time::timeout(
                Duration::from_secs(30),
                c.send(method.clone(), &url, Some(&body)),
            )
            .await
            .unwrap_or_else(|_| panic!("{verb} {path}: no answer in 30 s"));
            if (r.status == 400 && r.message().contains("null")) || r.status >= 500 {
                failures.push(format!("{verb} {path} {body}: {} {}", r.status, r.body));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
});
