//! The OpenAPI 3 document of the REST API, generated from the route table (paths, verbs,
//! access, request and response types). A committed copy lives at `docs/openapi.json`; a test
//! fails when it drifts from what the code generates (`metal-api dump-openapi` rewrites it).

use std::collections::BTreeMap;

use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, RefOr};

/// Builds the document; `base_path` becomes its server URL.
pub fn document(
    paths: Paths,
    schemas: BTreeMap<String, RefOr<Schema>>,
    base_path: &str,
) -> OpenApi {
    let mut components = ComponentsBuilder::new();
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    let components = components
        .security_scheme(
            "HMAC",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "'Authorization: Metal-Admin <hex>' where <hex> is HMAC-SHA256 over X-Date, the method and X-Data-Salt; the scope names the role the route needs",
            ))),
        )
        .security_scheme(
            "jwt",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "'Authorization: Bearer <token>' with an OIDC id token of a configured issuer; the scope names the role the route needs",
            ))),
        )
        .build();
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("metal-api")
                .description(Some(
                    "API to manage and control plane resources like machines, switches, operating system images, machine sizes, networks, IP addresses and more",
                ))
                .version("v1")
                .build(),
        )
        .servers(Some(vec![Server::new(base_path)]))
        .paths(paths)
        .components(Some(components))
        .build();
    crate::openapi_bounds::apply(&mut doc);
    // a rule that finds no place is reported by its test, not at run time
    let _ = crate::openapi_rules::apply(&mut doc);
    doc
}

/// The document as the server serves it, pretty-printed with a trailing newline.
pub fn render(doc: &OpenApi) -> String {
    let mut s = doc.to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

/// The document for base path `/`, as committed.
pub fn generate() -> String {
    let (_, paths, schemas) = crate::rest::routes().finish();
    render(&document(paths, schemas, "/"))
}
