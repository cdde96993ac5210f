//! The route table: every REST operation is declared once, with its path, verb, required
//! access, request and response types. The declaration adds the handler to the router behind a
//! layer that enforces the access, and describes the operation in the OpenAPI document, so the
//! document, the routes and the authorization cannot drift apart.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::{authorize, Access, AuthOutcome};
use crate::state::App;

type SchemaList = Vec<(String, RefOr<Schema>)>;

/// One declared operation.
pub struct Op {
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
    body: Option<RefOr<Schema>>,
    /// A `multipart/form-data` body with one file field: (name, description).
    form_file: Option<(&'static str, &'static str)>,
    responses: Vec<(u16, &'static str, Option<RefOr<Schema>>)>,
    query: Vec<(&'static str, &'static str, &'static str)>,
    schemas: SchemaList,
}

fn reference<T: ToSchema>(schemas: &mut SchemaList) -> RefOr<Schema> {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

impl Op {
    fn new(method: Method, path: &'static str, operation_id: &'static str, access: Access) -> Self {
        let tag = path
            .trim_start_matches("/v1/")
            .split('/')
            .next()
            .unwrap_or("");
        Self {
            method,
            path,
            operation_id,
            tag,
            summary: "",
            access,
            body: None,
            form_file: None,
            responses: Vec::new(),
            query: Vec::new(),
            schemas: Vec::new(),
        }
    }
    pub fn get(path: &'static str, id: &'static str, access: Access) -> Self {
        Self::new(Method::GET, path, id, access)
    }
    pub fn put(path: &'static str, id: &'static str, access: Access) -> Self {
        Self::new(Method::PUT, path, id, access)
    }
    pub fn post(path: &'static str, id: &'static str, access: Access) -> Self {
        Self::new(Method::POST, path, id, access)
    }
    pub fn delete(path: &'static str, id: &'static str, access: Access) -> Self {
        Self::new(Method::DELETE, path, id, access)
    }
    pub fn summary(mut self, s: &'static str) -> Self {
        self.summary = s;
        self
    }
    /// The JSON request body.
    pub fn body<T: ToSchema>(mut self) -> Self {
        self.body = Some(reference::<T>(&mut self.schemas));
        self
    }
    /// A `multipart/form-data` request body with one file field.
    pub fn form_file(mut self, name: &'static str, desc: &'static str) -> Self {
        self.form_file = Some((name, desc));
        self
    }
    /// A success answer without a body the client reads.
    pub fn returns_nothing(mut self, status: u16) -> Self {
        self.responses.push((status, status_text(status), None));
        self
    }
    /// A success answer with a body of `T`.
    pub fn returns<T: ToSchema>(mut self, status: u16) -> Self {
        let r = reference::<T>(&mut self.schemas);
        self.responses.push((status, status_text(status), Some(r)));
        self
    }
    /// A success answer with a list of `T`.
    pub fn returns_list<T: ToSchema>(mut self, status: u16) -> Self {
        let r = reference::<T>(&mut self.schemas);
        let array = ArrayBuilder::new().items(r).build();
        self.responses.push((
            status,
            status_text(status),
            Some(RefOr::T(Schema::Array(array))),
        ));
        self
    }
    /// A documented error status besides the default.
    pub fn error(mut self, status: u16) -> Self {
        let r = reference::<metal_domain::misc::ErrorResponse>(&mut self.schemas);
        self.responses.push((status, status_text(status), Some(r)));
        self
    }
    /// A query parameter (`type_name` is an OpenAPI primitive type).
    pub fn query(
        mut self,
        name: &'static str,
        type_name: &'static str,
        desc: &'static str,
    ) -> Self {
        self.query.push((name, type_name, desc));
        self
    }
}

fn status_text(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The table under construction: a router and the OpenAPI paths beside it.
pub struct RouteTable {
    router: Router<App>,
    paths: utoipa::openapi::path::PathsBuilder,
    schemas: BTreeMap<String, RefOr<Schema>>,
    ops: Vec<(Method, &'static str, Access)>,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self {
            router: Router::new(),
            paths: utoipa::openapi::path::PathsBuilder::new(),
            schemas: BTreeMap::new(),
            ops: Vec::new(),
        }
    }
}

async fn require(State(access): State<Access>, req: Request, next: Next) -> Response {
    match authorize(req.extensions().get::<AuthOutcome>(), access) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn http_method(m: &Method) -> HttpMethod {
    match *m {
        Method::GET => HttpMethod::Get,
        Method::PUT => HttpMethod::Put,
        Method::POST => HttpMethod::Post,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        _ => HttpMethod::Options,
    }
}

impl RouteTable {
    /// Declares an operation served by `handler` (a method router for exactly this verb).
    pub fn add(&mut self, op: Op, handler: MethodRouter<App>) {
        let layered = handler.route_layer(from_fn_with_state(op.access, require));
        self.router = std::mem::take(&mut self.router).route(op.path, layered);
        self.ops.push((op.method.clone(), op.path, op.access));

        let mut b = OperationBuilder::new()
            .operation_id(Some(op.operation_id))
            .tag(op.tag)
            .summary(Some(op.summary))
            .extensions(Some(
                ExtensionsBuilder::new()
                    .add("x-metal-access", op.access.as_str())
                    .build(),
            ));
        for seg in op.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                b = b.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(String::schema())),
                );
            }
        }
        for (name, ty, desc) in &op.query {
            let schema: RefOr<Schema> = match *ty {
                "boolean" => bool::schema(),
                "integer" => i64::schema(),
                _ => String::schema(),
            };
            b = b.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*desc))
                    .schema(Some(schema)),
            );
        }
        if let Some(body) = op.body {
            b = b.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(body)).build(),
                    )
                    .build(),
            ));
        }
        if let Some((name, desc)) = op.form_file {
            use utoipa::openapi::schema::{
                AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, Type,
            };
            // an empty file is refused (400)
            let file = ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                .min_length(Some(1))
                .description(Some(desc));
            // no other fields: a client that adds some learns nothing from them
            let form = ObjectBuilder::new()
                .property(name, file)
                .required(name)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            b = b.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "multipart/form-data",
                        ContentBuilder::new()
                            .schema(Some(Schema::Object(form.build())))
                            .build(),
                    )
                    .build(),
            ));
        }
        for (status, text, schema) in op.responses {
            let mut r = ResponseBuilder::new().description(text);
            if let Some(s) = schema {
                r = r.content(
                    "application/json",
                    ContentBuilder::new().schema(Some(s)).build(),
                );
            }
            b = b.response(status.to_string(), r.build());
        }
        let mut schemas = op.schemas;
        let err = reference::<metal_domain::misc::ErrorResponse>(&mut schemas);
        b = b.response(
            "default",
            ResponseBuilder::new()
                .description("Error")
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(err)).build(),
                )
                .build(),
        );
        match op.access {
            Access::Public => b = b.securities(Some(Vec::<SecurityRequirement>::new())),
            other => {
                let scopes: Vec<&str> = match other {
                    Access::Role(r) => vec![r.as_str()],
                    _ => vec![],
                };
                b = b
                    .security(SecurityRequirement::new("HMAC", scopes.clone()))
                    .security(SecurityRequirement::new("jwt", scopes));
            }
        }
        for (name, schema) in schemas {
            self.schemas.insert(name, schema);
        }
        let paths = std::mem::take(&mut self.paths);
        self.paths = paths.path(
            op.path,
            utoipa::openapi::PathItem::new(http_method(&op.method), b.build()),
        );
    }

    /// The operations declared so far: verb, path and access.
    pub fn operations(&self) -> &[(Method, &'static str, Access)] {
        &self.ops
    }

    /// Splits into the router and the OpenAPI parts (paths and schemas).
    pub fn finish(
        self,
    ) -> (
        Router<App>,
        utoipa::openapi::Paths,
        BTreeMap<String, RefOr<Schema>>,
    ) {
        (self.router, self.paths.build(), self.schemas)
    }
}
