//! Owns the OpenAPI 3.1 document served at `/api/v1/openapi.json`. Written by hand
//! next to the handlers; a test walks it against the router.

use axum::Json;
use serde_json::{Value, json};

fn error_responses() -> Value {
    json!({
        "400": {"$ref": "#/components/responses/Error"},
        "404": {"$ref": "#/components/responses/Error"},
        "413": {"$ref": "#/components/responses/Error"},
        "415": {"$ref": "#/components/responses/Error"},
        "422": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"}
    })
}

fn with_errors(ok: Value) -> Value {
    let mut r = error_responses();
    r["200"] = ok;
    r
}

pub fn spec() -> Value {
    let enum_of = |values: &[&str]| json!({"type": "string", "enum": values});
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "reagent", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Cited compliance guidance for bank transactions."},
        "paths": {
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
            "/ready": {"get": {"summary": "Readiness: store, model and database open",
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI document"}}}},
            "/api/v1/analyze": {"post": {
                "summary": "Analyze one transaction (stored, by id, or inline)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TransactionRequest"}}}},
                "responses": with_errors(json!({"description": "cited guidance",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Analysis"}}}}))
            }},
            "/api/v1/ask": {"post": {
                "summary": "A free question, optionally about a transaction",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TransactionRequest"}}}},
                "responses": with_errors(json!({"description": "answer with citations",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}}))
            }},
            "/api/v1/analyses/{id}": {"get": {
                "summary": "A stored analysis",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": with_errors(json!({"description": "the analysis",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Analysis"}}}}))
            }},
            "/api/v1/chunks/{id}": {"get": {
                "summary": "The full text of a cited chunk with its document metadata",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": with_errors(json!({"description": "the chunk"}))
            }}
        },
        "components": {
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "field": {"type": "string", "description": "the request field at fault, e.g. transaction.amount"}}}}},
                "Transaction": {"type": "object", "additionalProperties": false,
                    "description": "Unknown fields are refused with 422 naming the field.",
                    "required": ["transaction_id", "customer_id", "amount", "currency", "transaction_type", "direction", "origin_country", "destination_country", "timestamp"],
                    "properties": {
                        "transaction_id": {"type": "string"}, "customer_id": {"type": "string"},
                        "amount": {"type": "number", "exclusiveMinimum": 0}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                        "transaction_type": enum_of(&["WIRE", "ACH", "CASH_DEPOSIT", "CASH_WITHDRAWAL", "CARD", "CHECK", "INTERNAL", "MONETARY_INSTRUMENT_PURCHASE"]),
                        "direction": enum_of(&["INBOUND", "OUTBOUND"]),
                        "origin_country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
                        "destination_country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
                        "counterparty_name": {"type": ["string", "null"]}, "description": {"type": ["string", "null"]},
                        "counterparty_customer_id": {"type": ["string", "null"],
                            "description": "the counterparty's customer id when it is a customer of this bank (book transfers); equal to customer_id for a transfer between the customer's own accounts"},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "risk_score": {"type": ["number", "null"], "minimum": 0, "maximum": 1}}},
                "Customer": {"type": "object", "additionalProperties": false,
                    "description": "Unknown fields are refused with 422 naming the field.",
                    "required": ["customer_id", "name", "customer_type", "risk_rating", "kyc_status", "is_pep", "country"],
                    "properties": {
                        "customer_id": {"type": "string"}, "name": {"type": "string"},
                        "customer_type": enum_of(&["INDIVIDUAL", "BUSINESS"]),
                        "risk_rating": enum_of(&["LOW", "MEDIUM", "HIGH"]),
                        "kyc_status": enum_of(&["COMPLETE", "PENDING", "EXPIRED"]),
                        "is_pep": {"type": "boolean"},
                        "pep_type": {"oneOf": [enum_of(&["FOREIGN", "DOMESTIC"]), {"type": "null"}],
                            "description": "only with is_pep; absent means not yet known (treated as foreign)"},
                        "private_banking": {"type": "boolean", "default": false, "description": "holds a private banking account (31 CFR 1010.605(m))"},
                        "ctr_exempt": {"type": "boolean", "default": false, "description": "designated exempt person (31 CFR 1020.315): no CTR"},
                        "last_sar_filed_on": {"type": ["string", "null"], "format": "date", "description": "last SAR filed on this customer's activity (continuing activity, 31 CFR 1020.320)"},
                        "country": {"type": "string"}}},
                "TransactionRequest": {"type": "object", "additionalProperties": false,
                    "description": "Either transaction_id (stored) or transaction + customer (inline).",
                    "properties": {
                        "transaction_id": {"type": "string"},
                        "transaction": {"$ref": "#/components/schemas/Transaction"},
                        "customer": {"$ref": "#/components/schemas/Customer"},
                        "recent_transactions": {"type": "array", "items": {"$ref": "#/components/schemas/Transaction"}},
                        "question": {"type": "string"},
                        "as_of": {"type": "string", "format": "date", "description": "ask only"},
                        "sanctions_lookback": {"type": "boolean", "default": false,
                            "description": "screen names against the newest sanctions list version instead of the one in force on the transaction's date"}}},
                "Citation": {"type": "object",
                    "required": ["chunk_id", "document_id", "document_title", "version", "section_path", "excerpt"],
                    "properties": {
                        "chunk_id": {"type": "string", "format": "uuid"}, "document_id": {"type": "string"},
                        "document_title": {"type": "string"}, "version": {"type": "string"},
                        "citation": {"type": ["string", "null"], "examples": ["31 CFR 1010.311(a)"]},
                        "section_path": {"type": "array", "items": {"type": "string"}},
                        "pages": {"type": ["array", "null"], "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                        "excerpt": {"type": "string"}}},
                "Generator": {"type": "object", "required": ["kind"], "properties": {
                    "kind": enum_of(&["llm", "rules"]), "model": {"type": ["string", "null"]},
                    "degraded_reason": {"type": ["string", "null"]}, "dropped_citations": {"type": "integer"}}},
                "Analysis": {"type": "object",
                    "required": ["analysis_id", "transaction_id", "risk_level", "risk_score", "requires_review", "required_actions",
                                 "compliance_issues", "recommendations", "generator", "retrieval", "processing_time_ms", "analyzed_at", "prompt_version"],
                    "properties": {
                        "analysis_id": {"type": "string", "format": "uuid"}, "transaction_id": {"type": "string"},
                        "risk_level": enum_of(&["LOW", "MEDIUM", "HIGH"]), "risk_score": {"type": "number"},
                        "requires_review": {"type": "boolean"},
                        "required_actions": {"type": "array", "items": {"type": "object", "required": ["code", "title", "description", "citations"],
                            "properties": {"code": enum_of(&["CTR_FILING", "SAR_REVIEW", "TRAVEL_RULE_RECORDS", "OFAC_BLOCK_OR_REJECT", "ENHANCED_DUE_DILIGENCE", "KYC_REMEDIATION", "MONETARY_INSTRUMENT_RECORD"]),
                                "title": {"type": "string"}, "description": {"type": "string"}, "deadline": {"type": ["string", "null"]},
                                "due_on": {"type": ["string", "null"], "format": "date", "description": "the date the deadline names (rules engine, as of the transaction)"},
                                "citations": {"type": "array", "items": {"$ref": "#/components/schemas/Citation"}}}}},
                        "compliance_issues": {"type": "array", "items": {"type": "object", "properties": {
                            "title": {"type": "string"}, "severity": enum_of(&["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
                            "explanation": {"type": "string"}, "citations": {"type": "array", "items": {"$ref": "#/components/schemas/Citation"}}}}},
                        "recommendations": {"type": "array", "items": {"type": "object", "properties": {
                            "text": {"type": "string"}, "citations": {"type": "array", "items": {"$ref": "#/components/schemas/Citation"}}}}},
                        "answer": {"type": ["string", "null"]},
                        "generator": {"$ref": "#/components/schemas/Generator"},
                        "retrieval": {"type": "object", "properties": {
                            "queries": {"type": "array", "items": {"type": "string"}}, "filters": {"type": "object"},
                            "chunks": {"type": "array", "items": {"type": "object", "properties": {
                                "chunk_id": {"type": "string", "format": "uuid"}, "score": {"type": "number"}}}}}},
                        "processing_time_ms": {"type": "integer"}, "analyzed_at": {"type": "string", "format": "date-time"},
                        "prompt_version": {"type": "string"},
                        "sanctions_screening": {"type": "object", "description": "the sanctions list versions names were screened against, what was screened, and each possible match with its score and the tokens that matched",
                            "properties": {
                                "lists": {"type": "array", "items": {"type": "object", "properties": {
                                    "version_id": {"type": "string", "examples": ["sdn-2024-05-03"]}, "list": enum_of(&["sdn", "consolidated"]),
                                    "published": {"type": "string", "format": "date"}, "basis": {"type": "string"}}}},
                                "screened": {"type": "array", "items": {"type": "string"}},
                                "matches": {"type": "array", "items": {"type": "object", "properties": {
                                    "role": {"type": "string"}, "version_id": {"type": "string"}, "screened": {"type": "string"},
                                    "ent_num": {"type": "string"}, "listed_name": {"type": "string"}, "matched_name": {"type": "string"},
                                    "score": {"type": "number"}, "explanation": {"type": "string"}}}},
                                "note": {"type": ["string", "null"]}}}}},
                "Answer": {"type": "object", "required": ["answer", "citations", "generator"], "properties": {
                    "answer_id": {"type": "string", "format": "uuid"}, "question": {"type": "string"},
                    "transaction_id": {"type": ["string", "null"]}, "answer": {"type": "string"},
                    "citations": {"type": "array", "items": {"$ref": "#/components/schemas/Citation"}},
                    "generator": {"$ref": "#/components/schemas/Generator"}, "processing_time_ms": {"type": "integer"},
                    "prompt_version": {"type": "string"}}}
            }
        }
    });
    super::review::document(&mut doc);
    // Routes of access control, decisions, audit and uploads, and who may call each.
    super::feedback::document(&mut doc);
    super::auth::document_security(&mut doc);
    doc
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
