//! Owns the Dashboard page: the quality figures of a date range
//! (`app::monitoring`) as server-drawn SVG charts with their values as tables,
//! for the roles holding `Permission::ViewMonitoring` (officers and admins).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::{Layout, SignedIn, Web, WebError, render};
use crate::app::AppError;
use crate::app::Permission;
use crate::app::monitoring::{Table, charts, summary_rows};

/// Days shown when the page is opened without a range, today included.
const DEFAULT_DAYS: u64 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

pub struct ChartView {
    pub id: String,
    pub title: String,
    pub svg: String,
    pub table: Table,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    from: String,
    to: String,
    time_zone: String,
    n_days: usize,
    summary: Vec<(&'static str, String)>,
    charts: Vec<ChartView>,
}

fn date(field: &'static str, text: Option<&str>) -> Result<Option<NaiveDate>, WebError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| WebError::bad_request(format!("{field}: {t:?} is not a date written YYYY-MM-DD"))),
    }
}

pub async fn page(State(web): State<Web>, user: SignedIn, Query(q): Query<RangeQuery>) -> Result<Response, WebError> {
    if !user.principal().role.allows(Permission::ViewMonitoring) {
        return Err(WebError::forbidden("The dashboard is for compliance officers and administrators."));
    }
    let to = date("to", q.to.as_deref())?;
    let from = date("from", q.from.as_deref())?;
    let figures = web.app.quality_figures(from, to, DEFAULT_DAYS).await.map_err(|e| match e {
        AppError::Invalid { field: Some(field), message } => WebError::bad_request(format!("{field}: {message}")),
        other => WebError::from(other),
    })?;
    let range = figures.range;
    let charts = charts(&figures)
        .into_iter()
        .map(|c| ChartView { id: c.id.clone(), title: c.title.clone(), svg: c.svg(), table: c.table() })
        .collect();
    Ok(render(&DashboardPage {
        layout: user.layout("dashboard"),
        from: range.from().to_string(),
        to: range.to().to_string(),
        time_zone: figures.time_zone.clone(),
        n_days: figures.days.len(),
        summary: summary_rows(&figures.total),
        charts,
    }))
}
