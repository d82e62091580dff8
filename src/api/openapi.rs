//! Owns the OpenAPI 3.1 document served at `/api/v1/openapi.json`. utoipa derives it
//! from the request and response types (`#[derive(ToSchema)]` where they are
//! defined) and the `#[utoipa::path]` on each handler; [`spec`] then completes it
//! from [`ROUTES`], the one route → permission table: who may call each operation
//! (`x-required-roles` from `Role::allows`, `x-permission`, `security`) and the
//! errors the middleware answers on it. Tests check that the document and the table
//! name the same operations and that every reference resolves.

use std::sync::LazyLock;

use axum::Json;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::auth::{Access, ROUTES};

#[derive(OpenApi)]
#[openapi(
    info(title = "reagent", description = "Cited compliance guidance for bank transactions."),
    paths(
        super::health,
        super::ready,
        super::metrics_text,
        document,
        super::analyze,
        super::ask,
        super::get_analysis,
        super::get_chunk,
        super::decisions::decide,
        super::decisions::list,
        super::feedback::submit,
        super::feedback::list,
        super::review::queue,
        super::review::assign,
        super::review::case,
        super::audit::trail,
        super::upload_documents,
        super::get_job,
        super::batches::upload,
        super::batches::get_batch,
        super::auth::list_keys,
        super::auth::create_key,
        super::auth::revoke_key,
    ),
    components(schemas(super::error::Body, crate::app::Role)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("apiKey" = [])),
)]
struct ApiDoc;

/// The credentials `api::auth` accepts.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API key rk_<id>_<secret>, or a JWT when configured"))
                    .build(),
            ),
        );
        components.add_security_scheme("apiKey", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    }
}

/// The multipart form of `POST /api/v1/documents`, read part by part by
/// `documents::read_form`: one or more `file` parts and optional metadata.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the form for the document; the handler reads the parts itself
pub(super) struct DocumentUpload {
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    id: Option<String>,
    title: Option<String>,
    version: Option<String>,
    /// `regulation`, `guidance`, `policy`, `procedure` or `examination_manual`.
    r#type: Option<String>,
    jurisdiction: Option<String>,
    issuer: Option<String>,
    citation: Option<String>,
    effective_from: Option<chrono::NaiveDate>,
    effective_to: Option<chrono::NaiveDate>,
    /// Replace the stored version with the same id and version.
    replace: Option<bool>,
}

/// The multipart form of `POST /api/v1/batches`: one `file` part, CSV with a
/// header row or JSON lines.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the form for the document; the handler reads the part itself
pub(super) struct BatchUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// What the authentication and limits middleware can answer on any operation that
/// needs a credential, besides what the handler documents.
const GUARD_ERRORS: [&str; 5] = ["401", "403", "429", "503", "504"];

/// What decoding a request body can answer (malformed, too large, wrong media type,
/// a field named as invalid).
const BODY_ERRORS: [&str; 4] = ["400", "413", "415", "422"];

/// The document, built once.
pub fn spec() -> &'static Value {
    static SPEC: LazyLock<Value> = LazyLock::new(build);
    &SPEC
}

fn build() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        // Only a bug in a derive could get here; the document test catches it.
        tracing::error!("the OpenAPI document does not serialize: {e}");
        json!({})
    });
    bounds(&mut doc);
    doc["components"]["responses"]["Error"] =
        json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let error = json!({"$ref": "#/components/responses/Error"});
    // utoipa tags each operation with its handler's module path (`super::review`),
    // which tells a reader of the document nothing.
    for item in doc.get_mut("paths").and_then(Value::as_object_mut).into_iter().flat_map(|paths| paths.values_mut()) {
        for op in item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()) {
            if let Some(op) = op.as_object_mut() {
                op.remove("tags");
            }
        }
    }
    for (method, path, access) in ROUTES {
        let op = doc
            .get_mut("paths")
            .and_then(|paths| paths.get_mut(*path))
            .and_then(|item| item.get_mut(method.to_ascii_lowercase()))
            .and_then(Value::as_object_mut);
        let Some(op) = op else { continue }; // undocumented: the document test names it
        let Access::Needs(permission) = access else {
            op.insert("x-required-roles".into(), json!([]));
            op.insert("security".into(), json!([]));
            continue;
        };
        op.insert("x-required-roles".into(), json!(permission.roles()));
        op.insert("x-permission".into(), json!(permission));
        let has_body = op.contains_key("requestBody");
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            let body_errors = if has_body { &BODY_ERRORS[..] } else { &[] };
            for status in GUARD_ERRORS.iter().chain(body_errors) {
                responses.entry(status.to_string()).or_insert_with(|| error.clone());
            }
        }
    }
    doc
}

/// The bounds that live in constants, which the derive cannot read.
fn bounds(doc: &mut Value) {
    let mut set = |pointer: &str, bound: Value| {
        if let (Some(Value::Object(schema)), Value::Object(bound)) = (doc.pointer_mut(pointer), bound) {
            schema.extend(bound);
        }
    };
    let properties = "/components/schemas/DecisionRequest/properties";
    set(&format!("{properties}/comment"), json!({"minLength": 1, "maxLength": crate::app::MAX_COMMENT_CHARS}));
    set(&format!("{properties}/narrative"), json!({"maxLength": crate::app::case::MAX_NARRATIVE_CHARS}));
    set("/components/schemas/FeedbackRequest/properties/note", json!({"maxLength": crate::app::MAX_NOTE_CHARS}));
    let queue = doc.pointer_mut("/paths/~1api~1v1~1review-queue/get/parameters").and_then(Value::as_array_mut);
    if let Some(limit) = queue.into_iter().flatten().find(|p| p["name"] == "limit") {
        limit["schema"]["minimum"] = json!(1);
        limit["schema"]["maximum"] = json!(crate::app::MAX_QUEUE_PAGE);
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", summary = "This document", responses((status = 200, description = "OpenAPI document")))]
pub async fn document() -> Json<&'static Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::app::Role;

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_and_the_route_table_name_the_same_operations() {
        let doc = spec();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().unwrap().keys().filter(|k| METHODS.contains(&k.as_str())).map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let table: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        assert_eq!(documented, table, "documented operations vs api::auth::ROUTES");
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap_or_else(|| panic!("no operationId in {op}")))
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
        assert!(doc["paths"]["/api/v1/review-queue"]["get"].get("tags").is_none());
    }

    #[test]
    fn every_operation_names_who_may_call_it() {
        let doc = spec();
        for (method, path, access) in ROUTES {
            let op = &doc["paths"][*path][method.to_ascii_lowercase()];
            match access {
                Access::Public => {
                    assert_eq!(op["x-required-roles"], json!([]), "{method} {path}");
                    assert_eq!(op["security"], json!([]), "{method} {path}");
                }
                Access::Needs(p) => {
                    let allowed: Vec<&str> = Role::ALL.iter().filter(|r| r.allows(*p)).map(|r| r.as_str()).collect();
                    assert_eq!(op["x-required-roles"], json!(allowed), "{method} {path}");
                    assert_eq!(op["responses"]["401"]["$ref"], "#/components/responses/Error", "{method} {path}");
                }
            }
        }
        assert_eq!(doc["paths"]["/api/v1/keys"]["post"]["x-required-roles"], json!(["admin"]));
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(doc["components"]["securitySchemes"]["apiKey"]["name"], "X-API-Key");
        assert_eq!(doc["security"], json!([{"bearer": []}, {"apiKey": []}]));
    }

    #[test]
    fn schemas_come_from_the_types_and_every_reference_resolves() {
        let doc = spec();
        let mut found = Vec::new();
        refs(doc, &mut found);
        assert!(found.len() > 30, "{} references", found.len());
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        let schemas = &doc["components"]["schemas"];
        // Unknown fields are refused, so the schema says so; an enum lists its wire names.
        assert_eq!(schemas["Transaction"]["additionalProperties"], false);
        assert_eq!(schemas["TransactionType"]["enum"][0], "WIRE");
        assert_eq!(schemas["ActionCode"]["enum"].as_array().unwrap().len(), crate::rules::ActionCode::ALL.len());
        assert!(schemas["Analysis"]["required"].as_array().unwrap().contains(&json!("required_actions")));
        assert_eq!(
            doc["paths"]["/api/v1/analyze"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Analysis"
        );
        assert_eq!(schemas["DecisionRequest"]["properties"]["comment"]["maxLength"], crate::app::MAX_COMMENT_CHARS);
        assert_eq!(schemas["FeedbackRequest"]["properties"]["note"]["maxLength"], crate::app::MAX_NOTE_CHARS);
        let limit = doc["paths"]["/api/v1/review-queue"]["get"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit");
        assert_eq!(limit.unwrap()["schema"]["maximum"], crate::app::MAX_QUEUE_PAGE);
    }
}
