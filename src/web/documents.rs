//! Owns the Documents page: documents and their versions (effective dates, chunk
//! counts, status), ingestion jobs, uploading a new version for policy teams, and
//! what changed between two versions of a document (chunks added, removed, changed).

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use reagent_ingest::store::{ChunkRecord, VersionInfo, VersionStatus};
use serde::Deserialize;

use super::{Layout, SignedIn, UserView, Web, WebError, render, render_status, see_other};
use crate::app::documents::{read_form, start_ingest};

/// Largest upload accepted through the page.
pub const UPLOAD_LIMIT: usize = 32 * 1024 * 1024;

pub struct VersionRow {
    pub version: String,
    pub from: String,
    pub to: String,
    pub status: &'static str,
    pub chunks: usize,
    pub ingested: String,
    pub in_force: bool,
}

pub struct DocumentGroup {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub jurisdiction: String,
    pub versions: Vec<VersionRow>,
}

pub struct JobView {
    pub id: String,
    pub status: &'static str,
    pub done: u64,
    pub total: u64,
    pub detail: String,
    pub at: String,
    pub finished: bool,
}

fn groups(versions: Vec<VersionInfo>) -> Vec<DocumentGroup> {
    let today = chrono::Utc::now().date_naive();
    let mut by_id: BTreeMap<String, DocumentGroup> = BTreeMap::new();
    for v in versions {
        let m = &v.meta;
        let g = by_id
            .entry(m.document_id.clone())
            .or_insert_with(|| DocumentGroup {
                id: m.document_id.clone(),
                title: m.title.clone(),
                kind: m.document_type.as_str().to_string(),
                jurisdiction: m.jurisdiction.clone(),
                versions: vec![],
            });
        // Versions come oldest first: the newest title wins.
        g.title = m.title.clone();
        g.versions.push(VersionRow {
            version: m.version.clone(),
            from: m.effective_from.to_string(),
            to: m.effective_to.map_or("—".into(), |d| d.to_string()),
            status: match v.status {
                VersionStatus::Active => "active",
                VersionStatus::Pending => "pending",
            },
            chunks: v.chunk_count,
            ingested: v.ingested_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            in_force: v.status == VersionStatus::Active && m.in_force_on(today),
        });
    }
    by_id.into_values().collect()
}

async fn versions(web: &Web, id: Option<String>) -> Result<Vec<VersionInfo>, WebError> {
    Ok(web.app.document_versions(id).await?)
}

#[derive(Template)]
#[template(path = "documents.html")]
struct DocumentsPage {
    layout: Layout,
    user: UserView,
    documents: Vec<DocumentGroup>,
    jobs: Vec<JobView>,
    upload_error: Option<String>,
    upload_limit_mb: usize,
}

pub async fn list(State(web): State<Web>, user: SignedIn) -> Result<Response, WebError> {
    let page = documents_page(&web, &user, None).await?;
    Ok(render(&page))
}

async fn documents_page(
    web: &Web,
    user: &SignedIn,
    upload_error: Option<String>,
) -> Result<DocumentsPage, WebError> {
    Ok(DocumentsPage {
        layout: user.layout("documents"),
        user: user.user(),
        documents: groups(versions(web, None).await?),
        jobs: jobs(web, user).await,
        upload_error,
        upload_limit_mb: UPLOAD_LIMIT / (1024 * 1024),
    })
}

#[derive(Template)]
#[template(path = "document.html")]
struct DocumentPage {
    layout: Layout,
    document: DocumentGroup,
    from: String,
    to: String,
}

pub async fn document(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let document = groups(versions(&web, Some(id.clone())).await?)
        .into_iter()
        .next()
        .ok_or_else(|| WebError::not_found(format!("There is no document {id:?}.")))?;
    let n = document.versions.len();
    let from = if n >= 2 {
        document.versions[n - 2].version.clone()
    } else {
        String::new()
    };
    let to = document
        .versions
        .last()
        .map(|v| v.version.clone())
        .unwrap_or_default();
    Ok(render(&DocumentPage {
        layout: user.layout("documents"),
        document,
        from,
        to,
    }))
}

/// One chunk as the diff shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkBrief {
    pub index: usize,
    pub place: String,
    pub text: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct VersionDiff {
    pub added: Vec<ChunkBrief>,
    pub removed: Vec<ChunkBrief>,
    pub changed: Vec<(ChunkBrief, ChunkBrief)>,
    pub unchanged: usize,
}

fn brief(r: &ChunkRecord) -> ChunkBrief {
    let mut place = r.chunk.section_path.join(" › ");
    if let Some(c) = &r.chunk.citation {
        place = if place.is_empty() {
            c.clone()
        } else {
            format!("{c} — {place}")
        };
    }
    ChunkBrief {
        index: r.chunk.index,
        place,
        text: r.chunk.text.clone(),
    }
}

/// Chunks are matched by where they sit (section path and citation, then their
/// order within that place); matched chunks whose text differs (ignoring
/// whitespace) are changed, the rest added or removed.
pub fn diff_versions(old: &[ChunkRecord], new: &[ChunkRecord]) -> VersionDiff {
    fn keyed(chunks: &[ChunkRecord]) -> Vec<((String, String, usize), &ChunkRecord)> {
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        chunks
            .iter()
            .map(|c| {
                let place = (
                    c.chunk.section_path.join("\u{1f}"),
                    c.chunk.citation.clone().unwrap_or_default(),
                );
                let n = seen.entry(place.clone()).or_insert(0);
                let key = (place.0, place.1, *n);
                *n += 1;
                (key, c)
            })
            .collect()
    }
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let old_k = keyed(old);
    let new_k = keyed(new);
    let new_map: HashMap<_, _> = new_k.iter().map(|(k, c)| (k.clone(), *c)).collect();
    let old_map: HashMap<_, _> = old_k.iter().map(|(k, c)| (k.clone(), *c)).collect();
    let mut d = VersionDiff::default();
    for (k, o) in &old_k {
        match new_map.get(k) {
            Some(n) if flat(&o.chunk.text) == flat(&n.chunk.text) => d.unchanged += 1,
            Some(n) => d.changed.push((brief(o), brief(n))),
            None => d.removed.push(brief(o)),
        }
    }
    for (k, n) in &new_k {
        if !old_map.contains_key(k) {
            d.added.push(brief(n));
        }
    }
    d
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    layout: Layout,
    id: String,
    title: String,
    from: String,
    to: String,
    diff: VersionDiff,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

pub async fn diff(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, WebError> {
    let all = versions(&web, Some(id.clone())).await?;
    let find = |v: &str| {
        all.iter()
            .find(|x| x.meta.version == v && x.status == VersionStatus::Active)
    };
    let (Some(_), Some(b)) = (find(&q.from), find(&q.to)) else {
        return Err(WebError::bad_request(format!(
            "Choose two stored versions of {id:?} to compare (got {:?} and {:?}).",
            q.from, q.to
        )));
    };
    let title = b.meta.title.clone();
    let old = web.app.version_chunks(id.clone(), q.from.clone()).await?;
    let new = web.app.version_chunks(id.clone(), q.to.clone()).await?;
    Ok(render(&DiffPage {
        layout: user.layout("documents"),
        id,
        title,
        from: q.from,
        to: q.to,
        diff: diff_versions(&old, &new),
    }))
}

/// Jobs the pages keep listing.
const JOBS_KEPT: usize = 20;

fn job_view(j: crate::app::jobs::JobView) -> JobView {
    let mut detail = j.error.clone().unwrap_or_default();
    if let Some(files) = j.result.as_ref().and_then(|r| r["files"].as_array()) {
        let done: Vec<String> = files
            .iter()
            .filter_map(|f| {
                let outcome = f.get("outcome")?;
                let kind = outcome
                    .get("kind")
                    .or_else(|| outcome.get("status"))
                    .and_then(|k| k.as_str())
                    .unwrap_or("");
                match (
                    f.get("document_id").or_else(|| outcome.get("document_id")),
                    f.get("version").or_else(|| outcome.get("version")),
                ) {
                    (Some(d), Some(v)) => Some(format!(
                        "{}@{} {kind}",
                        d.as_str().unwrap_or("?"),
                        v.as_str().unwrap_or("?")
                    )),
                    _ => f
                        .get("path")
                        .and_then(|p| p.as_str())
                        .map(|p| format!("{p} {kind}")),
                }
            })
            .collect();
        if !done.is_empty() {
            if !detail.is_empty() {
                detail.push_str(" — ");
            }
            detail.push_str(&done.join(", "));
        }
    }
    JobView {
        id: j.job_id.to_string(),
        status: j.status.as_str(),
        finished: j.status.is_finished(),
        done: u64::try_from(j.progress.done).unwrap_or(0),
        total: u64::try_from(j.progress.total).unwrap_or(0),
        detail,
        at: j.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Ingestion jobs started from the pages (newest first); each role that may upload sees them.
async fn jobs(web: &Web, user: &SignedIn) -> Vec<JobView> {
    if !user.user().can_upload {
        return vec![];
    }
    let ids: Vec<uuid::Uuid> = web
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match web.app.jobs().get(id).await {
            Ok(Some(j)) => out.push(job_view(j)),
            Ok(None) => {}
            Err(e) => tracing::warn!("reading ingestion job {id}: {e}"),
        }
    }
    out
}

/// Upload: the form (or the page script, with a progress bar) posts the file; the
/// ingestion runs as a job of the documents service and the page lists it.
/// The CSRF token comes as the `X-CSRF-Token` header or in the action's query
/// (checked by the guard before this runs).
pub async fn upload(
    State(web): State<Web>,
    user: SignedIn,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    if !user.user().can_upload {
        return Err(WebError::forbidden(
            "Only policy editors and admins may upload documents.",
        ));
    }
    let app = &web.app;
    let outcome = match multipart {
        Err(e) => Err(format!("Send the file as a form upload ({e}).")),
        Ok(form) => {
            let max = app.max_upload_file_bytes().unwrap_or(0);
            match read_form(form, max).await {
                Err(e) => Err(WebError::from(e).message),
                Ok((files, meta)) => {
                    match start_ingest(app, user.principal(), None, files, meta).await {
                        Ok(job) => Ok(job),
                        Err(e) => Err(WebError::from(e).message),
                    }
                }
            }
        }
    };
    match outcome {
        Ok(job) => {
            let mut kept = web.jobs.lock().unwrap_or_else(|e| e.into_inner());
            kept.push_front(job.job_id);
            kept.truncate(JOBS_KEPT);
            drop(kept);
            Ok(see_other("/documents#jobs-title"))
        }
        Err(message) => {
            let page = documents_page(&web, &user, Some(message)).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobFragment {
    job: JobView,
}

/// One job's row, for the page's polling (htmx) or a direct look.
pub async fn job(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if !user.user().can_upload {
        return Err(WebError::forbidden(
            "Only policy editors and admins follow ingestion jobs.",
        ));
    }
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| WebError::bad_request(format!("{id:?} is not a job id.")))?;
    let job = web
        .app
        .jobs()
        .get(id)
        .await
        .map_err(crate::app::AppError::from)?
        .ok_or_else(|| WebError::not_found(format!("There is no ingestion job {id}.")))?;
    Ok(render(&JobFragment { job: job_view(job) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reagent_ingest::{Chunk, DocumentMeta, DocumentType};

    fn rec(index: usize, section: &str, text: &str) -> ChunkRecord {
        let meta = DocumentMeta {
            document_id: "d".into(),
            title: "D".into(),
            version: "1".into(),
            document_type: DocumentType::Policy,
            jurisdiction: "US".into(),
            issuer: "x".into(),
            citation: None,
            effective_from: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            effective_to: None,
            source_path: "d.md".into(),
            content_hash: "h".into(),
        };
        let chunk = Chunk {
            index,
            text: text.into(),
            section_path: vec![section.into()],
            citation: None,
            pages: None,
            char_start: 0,
            char_end: text.len(),
            passage_id: None,
            token_count: 1,
        };
        ChunkRecord {
            chunk_id: uuid::Uuid::new_v4(),
            meta,
            chunk,
        }
    }

    #[test]
    fn diff_finds_added_removed_and_changed_chunks() {
        let old = vec![
            rec(0, "1 Scope", "same  text"),
            rec(1, "2 Cash", "old threshold 10,000"),
            rec(2, "3 Gone", "bye"),
        ];
        let new = vec![
            rec(0, "1 Scope", "same text"),
            rec(1, "2 Cash", "new threshold 5,000"),
            rec(2, "4 New", "hello"),
        ];
        let d = diff_versions(&old, &new);
        assert_eq!(d.unchanged, 1);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].0.text, "old threshold 10,000");
        assert_eq!(d.changed[0].1.text, "new threshold 5,000");
        assert_eq!(
            d.removed
                .iter()
                .map(|c| c.place.as_str())
                .collect::<Vec<_>>(),
            ["3 Gone"]
        );
        assert_eq!(
            d.added.iter().map(|c| c.place.as_str()).collect::<Vec<_>>(),
            ["4 New"]
        );
    }

    #[test]
    fn repeated_sections_match_by_order() {
        let old = vec![rec(0, "A", "one"), rec(1, "A", "two")];
        let new = vec![rec(0, "A", "one"), rec(1, "A", "two"), rec(2, "A", "three")];
        let d = diff_versions(&old, &new);
        assert_eq!(
            (d.unchanged, d.changed.len(), d.removed.len(), d.added.len()),
            (2, 0, 0, 1)
        );
        assert_eq!(d.added[0].text, "three");
    }
}
