//! The OpenAPI document: generated from the route table, committed, served, and checked
//! against metal-stack's reference contract: all 114 operations, no more, with its success codes.

use std::collections::BTreeSet;

use metal_testkit::{Backend, Caller, TestApi};
use serde_json::Value;

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn committed_document_matches_the_code() {
    let generated = metal_api::openapi::generate();
    let committed = std::fs::read_to_string(repo_file("docs/openapi.json")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/openapi.json is out of date: run `cargo run -q --bin metal-api -- dump-openapi > docs/openapi.json`"
    );
}

/// (verb, path) of each operation in a Swagger 2 or OpenAPI 3 document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for verb in item.as_object().unwrap().keys() {
            out.insert((verb.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn paths_and_verbs_follow_the_reference() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("../shared/reference/metal-api-v1.swagger.json"))
            .expect("the reference contract lies in ../shared beside the checkout"),
    )
    .unwrap();
    let ours: Value = serde_json::from_str(&metal_api::openapi::generate()).unwrap();
    // every operation of the reference, no exceptions
    let want = operations(&reference);
    assert_eq!(want.len(), 114, "the reference has 114 operations");
    let have = operations(&ours);
    let missing: Vec<_> = want.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "reference operations not served: {missing:?}"
    );
    let invented: Vec<_> = have.difference(&want).collect();
    assert!(
        invented.is_empty(),
        "operations the reference does not have: {invented:?}"
    );
    // success status codes agree
    for (verb, path) in &want {
        let codes = |doc: &Value| -> BTreeSet<String> {
            doc["paths"][path][verb.to_lowercase()]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with('2'))
                .cloned()
                .collect()
        };
        let (r, o) = (codes(&reference), codes(&ours));
        assert!(
            o.is_subset(&r) && !o.is_empty(),
            "{verb} {path}: reference {r:?}, ours {o:?}"
        );
    }
}

#[tokio::test]
async fn document_is_served_under_the_base_path() {
    let api = TestApi::start_with(Backend::Sqlite, |c| c.base_path = "/metal/".into())
        .await
        .unwrap();
    let r = api.client(Caller::Anonymous).get("apidocs.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    assert_eq!(r.body["servers"][0]["url"], "/metal/");
    assert!(r.body["paths"]["/v1/image"]["put"].is_object());
    api.stop().await;
}
