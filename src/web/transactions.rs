//! Owns the Transactions page: the searchable list of stored transactions with their
//! latest verdict, analysing a stored transaction, and the ad-hoc analysis form.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Layout, SignedIn, UserView, Web, WebError, render, render_status, see_other, view};
use crate::app::{Actor, App, TransactionRow};
use crate::domain::{Customer, RuleInput, Transaction};
use crate::guidance::Analysis;

/// Rows per page.
const PAGE_SIZE: u32 = 25;

pub struct Row {
    pub id: String,
    pub date: String,
    pub amount: String,
    pub currency: String,
    pub kind: String,
    pub route: String,
    pub customer: String,
    pub customer_id: String,
    pub risk: Option<(&'static str, &'static str)>,
    pub review: String,
    pub analysis_id: Option<String>,
}

impl Row {
    fn of(r: &TransactionRow, review: String) -> Self {
        let t = &r.transaction;
        Self {
            id: t.transaction_id.clone(),
            date: t.timestamp.format("%Y-%m-%d %H:%M").to_string(),
            amount: view::amount(t.amount),
            currency: t.currency.as_str().to_string(),
            kind: t.transaction_type.as_str().to_string(),
            route: format!("{} → {}", t.origin_country, t.destination_country),
            customer: r.customer_name.clone(),
            customer_id: t.customer_id.clone(),
            risk: r.latest_analysis.as_ref().map(|a| {
                (
                    view::risk_label(a.risk_level),
                    view::risk_class(a.risk_level),
                )
            }),
            review,
            analysis_id: r
                .latest_analysis
                .as_ref()
                .map(|a| a.analysis_id.to_string()),
        }
    }
}

/// The ad-hoc form as typed, and what is wrong with it.
#[derive(Debug, Clone, Deserialize)]
pub struct AdhocForm {
    #[serde(default)]
    pub customer_id: String,
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub transaction_type: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub origin_country: String,
    #[serde(default)]
    pub destination_country: String,
    #[serde(default)]
    pub counterparty_name: String,
    #[serde(default)]
    pub counterparty_customer_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(skip)]
    pub errors: Vec<(String, String)>,
}

impl Default for AdhocForm {
    fn default() -> Self {
        Self {
            customer_id: String::new(),
            amount: String::new(),
            currency: "USD".into(),
            transaction_type: "WIRE".into(),
            direction: "OUTBOUND".into(),
            origin_country: "US".into(),
            destination_country: String::new(),
            counterparty_name: String::new(),
            counterparty_customer_id: String::new(),
            description: String::new(),
            timestamp: chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
            errors: vec![],
        }
    }
}

pub const TRANSACTION_TYPES: [&str; 8] = [
    "WIRE",
    "ACH",
    "CASH_DEPOSIT",
    "CASH_WITHDRAWAL",
    "CARD",
    "CHECK",
    "INTERNAL",
    "MONETARY_INSTRUMENT_PURCHASE",
];
pub const DIRECTIONS: [&str; 2] = ["OUTBOUND", "INBOUND"];

impl AdhocForm {
    /// The message for `field`, if it is wrong.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        if self.error(field).is_none() {
            self.errors.push((field.to_string(), message.into()));
        }
    }

    /// The transaction the form describes, or the form with its errors filled in.
    fn transaction(&mut self, id: &str) -> Option<Transaction> {
        let amount = match self.amount.trim().replace(',', "").parse::<f64>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.fail("amount", "Enter the amount as a number, e.g. 12500.00.");
                None
            }
        };
        if !TRANSACTION_TYPES.contains(&self.transaction_type.as_str()) {
            self.fail("transaction_type", "Choose a transaction type.");
        }
        if !DIRECTIONS.contains(&self.direction.as_str()) {
            self.fail("direction", "Choose a direction.");
        }
        let timestamp =
            match chrono::NaiveDateTime::parse_from_str(self.timestamp.trim(), "%Y-%m-%dT%H:%M") {
                Ok(t) => Some(t.and_utc().fixed_offset()),
                Err(_) => {
                    self.fail(
                        "timestamp",
                        "Enter the date and time (UTC) as YYYY-MM-DDTHH:MM.",
                    );
                    None
                }
            };
        let (amount, timestamp) = (amount?, timestamp?);
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let json = serde_json::json!({
            "transaction_id": id,
            "customer_id": self.customer_id.trim(),
            "amount": amount,
            "currency": self.currency.trim().to_uppercase(),
            "transaction_type": self.transaction_type,
            "direction": self.direction,
            "origin_country": self.origin_country.trim().to_uppercase(),
            "destination_country": self.destination_country.trim().to_uppercase(),
            "counterparty_name": opt(&self.counterparty_name),
            "counterparty_customer_id": opt(&self.counterparty_customer_id),
            "description": opt(&self.description),
            "timestamp": timestamp,
        });
        match serde_json::from_value::<Transaction>(json) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail("amount", format!("The transaction could not be read: {e}"));
                None
            }
        }
    }
}

#[derive(Template)]
#[template(path = "transactions.html")]
struct TransactionsPage {
    layout: Layout,
    user: UserView,
    q: String,
    rows: Vec<Row>,
    total: u64,
    page: u32,
    pages: u32,
    prev: Option<String>,
    next: Option<String>,
    form: AdhocForm,
    customers: Vec<(String, String)>,
    types: [&'static str; 8],
    directions: [&'static str; 2],
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<u32>,
}

pub async fn list(
    State(web): State<Web>,
    user: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    user.require_read()?;
    let page = page_of(
        &web.app,
        &user,
        q.q,
        q.page.unwrap_or(1),
        AdhocForm::default(),
    )
    .await?;
    Ok(render(&page))
}

async fn page_of(
    app: &Arc<App>,
    user: &SignedIn,
    q: String,
    page: u32,
    form: AdhocForm,
) -> Result<TransactionsPage, WebError> {
    let page = page.max(1);
    let found = app.transactions(Some(q.clone()), PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
    let (rows, total) = (found.rows, found.total);
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    let link = |p: u32| format!("/transactions?q={}&page={p}", view::url_encode(&q));
    let (prev, next) = (
        (page > 1).then(|| link(page - 1)),
        (page < pages).then(|| link(page + 1)),
    );
    let mut customers: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.transaction.customer_id.clone(), r.customer_name.clone()))
        .collect();
    customers.sort();
    customers.dedup();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(Row::of(r, review_status(app, r).await));
    }
    Ok(TransactionsPage {
        layout: user.layout("transactions"),
        user: user.user(),
        q,
        rows: out,
        total,
        page,
        pages,
        prev,
        next,
        form,
        customers,
        types: TRANSACTION_TYPES,
        directions: DIRECTIONS,
    })
}

/// Where the officer's review of a transaction stands.
async fn review_status(app: &Arc<App>, r: &TransactionRow) -> String {
    let Some(a) = &r.latest_analysis else {
        return "not analysed".into();
    };
    if let Some(d) = super::analysis::latest_decision(app, a.analysis_id).await {
        return d;
    }
    if a.requires_review {
        "awaiting review".into()
    } else {
        "no review needed".into()
    }
}

/// Analyse, store, and return the analysis; the same steps as `POST /api/v1/analyze`.
pub async fn run_analysis(
    app: &Arc<App>,
    user: &SignedIn,
    input: RuleInput,
    inline: bool,
) -> Result<Analysis, WebError> {
    let mut request = serde_json::json!({
        "transaction_id": if inline { None } else { Some(input.transaction.transaction_id.clone()) },
        "inline": inline,
        "question": null,
        "via": "web",
        "actor": user.principal().id,
    });
    request["request"] = serde_json::to_value(&input).unwrap_or_default();
    Ok(app.analyze_input(input, None, &request, Actor::from(user.principal()), None).await?)
}

pub async fn analyze_stored(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if !user.user().can_analyze {
        return Err(WebError::forbidden(
            "Your role may read analyses but not run them.",
        ));
    }
    let app = &web.app;
    let input = app
        .stored_transaction(&id)
        .await?
        .ok_or_else(|| WebError::not_found(format!("There is no transaction {id:?}.")))?;
    let analysis = run_analysis(app, &user, input, false).await?;
    Ok(see_other(&format!("/analyses/{}", analysis.analysis_id)))
}

pub async fn analyze_adhoc(
    State(web): State<Web>,
    user: SignedIn,
    Form(mut form): Form<AdhocForm>,
) -> Result<Response, WebError> {
    if !user.user().can_analyze {
        return Err(WebError::forbidden(
            "Your role may read analyses but not run them.",
        ));
    }
    let app = &web.app;
    form.errors.clear();
    let customer: Option<Customer> = if form.customer_id.trim().is_empty() {
        form.fail("customer_id", "Enter the customer's id, e.g. CUST003.");
        None
    } else {
        let c = app.customer(form.customer_id.trim()).await?;
        if c.is_none() {
            form.fail(
                "customer_id",
                format!("There is no customer {:?}.", form.customer_id.trim()),
            );
        }
        c
    };
    let id = format!(
        "WEB-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase()
    );
    let transaction = form.transaction(&id);
    if let (Some(transaction), Some(customer)) = (transaction, customer) {
        let input = RuleInput {
            transaction,
            customer,
            recent_transactions: vec![],
            sanctions_lookback: false,
        };
        match input.parse() {
            Ok(_) => {
                let analysis = run_analysis(app, &user, input, true).await?;
                return Ok(see_other(&format!("/analyses/{}", analysis.analysis_id)));
            }
            Err(e) => {
                let field = e.field.rsplit('.').next().unwrap_or(&e.field).to_string();
                let field = if form_fields().contains(&field.as_str()) {
                    field
                } else {
                    "amount".into()
                };
                form.fail(&field, e.message);
            }
        }
    }
    let page = page_of(app, &user, String::new(), 1, form).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page).into_response())
}

fn form_fields() -> [&'static str; 11] {
    [
        "customer_id",
        "amount",
        "currency",
        "transaction_type",
        "direction",
        "origin_country",
        "destination_country",
        "counterparty_name",
        "counterparty_customer_id",
        "description",
        "timestamp",
    ]
}
