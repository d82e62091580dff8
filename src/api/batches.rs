//! Owns batch screening over HTTP (`POST /api/v1/batches`, the roles that may
//! analyse): a multipart form with one `file` part, handed to the batch use-case
//! ([`crate::app::batch`]), answered `202` with the job; `GET /api/v1/batches/{id}`
//! shows its progress (transactions analysed of the total) and, when done, the report
//! with the rejected rows.

use std::sync::Arc;

use axum::extract::multipart::Multipart;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiState, job_response, multipart_form};
use crate::app::documents::{multipart_error, safe_file_name};
use crate::app::jobs::JobKind;
use crate::app::{Principal, RequestId};

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field("file")
}

/// `POST /api/v1/batches`.
#[utoipa::path(post, path = "/api/v1/batches", operation_id = "upload_batch",
    summary = "Screen a file of transactions (multipart: one `file` part, CSV with a header row or JSON lines, as `reagent batch run` reads). Answers 202 with the batch job.",
    request_body(content = super::openapi::BatchUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "the job", body = crate::app::jobs::JobView)))]
pub async fn upload(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = multipart_form(form)?;
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "file" if file.is_none() => {
                let raw = field.file_name().unwrap_or_default().to_string();
                let name = safe_file_name(&raw).unwrap_or_else(|| "upload".into());
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((name, bytes));
            }
            "file" => return Err(bad("send one file per batch")),
            other => {
                return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", format!("unknown form field {other:?}; send one `file`"))
                    .field(other))
            }
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Err(bad("the form has no file part, or it is empty"));
    };
    let job = crate::app::batch::start(&state.app, &principal, rid.as_ref().map(|r| &r.0), name, bytes).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// `GET /api/v1/batches/{id}`.
#[utoipa::path(get, path = "/api/v1/batches/{id}",
    summary = "A batch job: status, progress (transactions analysed of the total), error, and the report (analysed, require review, rejected rows with line and field, per second)",
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, description = "the job", body = crate::app::jobs::JobView), (status = 404, description = "no such job", body = super::error::Body<'static>)))]
pub async fn get_batch(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    job_response(&state.app, JobKind::Batch, &id).await
}
