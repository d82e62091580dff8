//! Owns how failures look on the wire: an HTTP status and a JSON body
//! `{"error": {"code", "message", "field"?}}` (from [`AppError`], one exhaustive
//! mapping), and the JSON body extractor that turns
//! malformed input into such errors (400 bad syntax, 413 too large, 415 not JSON,
//! 422 a field with a wrong value) instead of panics or plain-text rejections.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::AppError;
use crate::domain::{DecodeError, ValidationError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Serialize)]
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
pub(super) struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
#[derive(utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub(super) struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    /// The request field at fault, e.g. `transaction.amount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A path segment that should be a UUID: 400 naming the `id` field.
    pub fn path_uuid(what: &str, id: &str) -> Result<uuid::Uuid, Self> {
        uuid::Uuid::parse_str(id)
            .map_err(|_| Self::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{what} id must be a UUID")).field("id"))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: Inner { code: self.code, message: &self.message, field: self.field.as_deref() } };
        (self.status, Json(body)).into_response()
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        AppError::from(e).into()
    }
}

impl From<AppError> for ApiError {
    /// The one mapping of the use-cases' errors to the wire. An internal failure is
    /// logged in full (with the request id of the request's span) and answered with
    /// its generic message only.
    fn from(e: AppError) -> Self {
        match e {
            AppError::BadRequest { code, message, field } => {
                ApiError { status: StatusCode::BAD_REQUEST, code, message, field }
            }
            AppError::Invalid { field, message } => {
                ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: "invalid_field", message, field }
            }
            AppError::TooLarge { code, message, field } => {
                ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code, message, field }
            }
            AppError::NotFound { message, field } => ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message, field },
            AppError::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            AppError::Unauthenticated(message) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
            AppError::Conflict { code, message, field } => ApiError { status: StatusCode::CONFLICT, code, message, field },
            AppError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_busy", "the database is busy; retry later"),
            AppError::Unavailable { message } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
            AppError::Internal { public, detail } => {
                tracing::error!(detail, "{public}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", public)
            }
        }
    }
}

/// A JSON request body, decoded with the failing field's path in every error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "request body exceeds the size limit")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
            }
        })?;
        decode(&bytes).map(ApiJson)
    }
}

/// Decode JSON, naming the field that failed (400 when it is not JSON, 422 naming the
/// field when a value is wrong).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::domain::decode(bytes).map_err(|e| match e {
        DecodeError::NotJson(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
        DecodeError::Field { field, message } => {
            let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message);
            err.field = field;
            err
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        inner: InnerT,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct InnerT {
        kind: Kind,
        n: u32,
    }
    #[derive(serde::Deserialize, Debug)]
    enum Kind {
        A,
    }

    /// Issue 14: a misspelt field inside `transaction` is refused (422)
    /// with the full path of the unknown field, never silently ignored.
    #[test]
    fn unknown_fields_are_422_naming_the_field() {
        let mut body = serde_json::json!({
            "transaction": {"transaction_id": "T1", "customer_id": "C1", "amount": 100, "currency": "USD",
                "transaction_type": "WIRE", "direction": "OUTBOUND", "origin_country": "US",
                "destination_country": "DE", "timestamp": "2026-03-10T14:20:00Z"},
            "customer": {"customer_id": "C1", "name": "Jane Doe", "customer_type": "INDIVIDUAL",
                "risk_rating": "LOW", "kyc_status": "COMPLETE", "is_pep": false, "country": "US"}
        });
        assert!(decode::<crate::domain::RuleInput>(body.to_string().as_bytes()).is_ok());
        body["transaction"]["counterparty_nme"] = serde_json::json!("Bank Meli Iran");
        let e = decode::<crate::domain::RuleInput>(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("transaction.counterparty_nme")),
            "{e:?}"
        );
        body["transaction"].as_object_mut().unwrap().remove("counterparty_nme");
        body["customer"]["pep"] = serde_json::json!(true);
        let e = decode::<crate::domain::RuleInput>(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("customer.pep"), "{e:?}");
    }

    #[test]
    fn errors_name_fields() {
        let e = decode::<Outer>(br#"{"inner": {"kind": "B", "n": 1}}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("inner.kind")));
        let e = decode::<Outer>(br#"{"inner": {"kind": "A"}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner.n"), "{e:?}");
        let e = decode::<Outer>(br#"{"inner": {"kind": "A", "n": -1}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner.n"));
        let e = decode::<Outer>(br#"{"inner": "#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = decode::<Outer>(br#"{"inner": {"kind": null, "n": 1}}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("inner.kind")), "{e:?}");
        let e = decode::<Outer>(br#"{"inner": {"kind": 7, "n": 1}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "broken JSON stays a 400");
        let e = decode::<Outer>(br#"{"inner": {"kind": "A", "n": 1}} trailing"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
