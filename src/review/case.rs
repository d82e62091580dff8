//! The case view of one analysis: the transactions the rules looked at (the
//! stored rule input: the transaction and the customer's history in the
//! aggregation and structuring windows), those the findings name, a SAR
//! narrative draft (who, what, when, where, why, how) whose every section
//! cites the chunks it rests on, and a CTR data sheet with the fields of
//! FinCEN's CTR. Built deterministically from stored data: no model, no clock
//! beyond `today` for days left.
//!
//! The sheet fills only what reagent knows (the customer's name, type and
//! country; cash totals and the business day); every other field is marked
//! `required_to_complete`, never invented.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::{ReviewError, days_left, require_decide};
use crate::auth::Principal;
use crate::db::Database;
use crate::decision::Decision;
use crate::domain::{CustomerType, Direction, RuleInput, ValidCustomer, ValidRuleInput, ValidTransaction};
use crate::guidance::{Analysis, Citation, RequiredAction};
use crate::rules::data::InstitutionConfig;
use crate::rules::{ActionCode, CashClass, calendar};

/// Longest narrative accepted with a decision, in characters.
pub const MAX_NARRATIVE_CHARS: usize = 20_000;

/// One transaction the rules looked at.
#[derive(Debug, Clone, Serialize)]
pub struct RelatedTransaction {
    pub transaction_id: String,
    pub timestamp: String,
    /// Business day for currency reporting (31 CFR 1010.313).
    pub business_day: NaiveDate,
    pub transaction_type: String,
    pub direction: String,
    /// Exact amount in the transaction's currency.
    pub amount: Decimal,
    pub currency: String,
    pub origin_country: String,
    pub destination_country: String,
    /// `in` / `out` for currency (cash) transactions, else `None`.
    pub cash: Option<&'static str>,
    /// The analysed transaction itself.
    pub current: bool,
    /// Named by a finding (part of the aggregation or pattern).
    pub in_pattern: bool,
}

/// One section of the SAR narrative.
#[derive(Debug, Clone, Serialize)]
pub struct NarrativeSection {
    /// `who`, `what`, `when`, `where`, `why`, `how`.
    pub key: &'static str,
    pub text: String,
    /// The chunks the section's claims rest on.
    pub citations: Vec<Uuid>,
}

/// The SAR narrative draft, and the text an officer kept with a decision.
#[derive(Debug, Clone, Serialize)]
pub struct Narrative {
    pub sections: Vec<NarrativeSection>,
    /// The sections as one editable text, each followed by its `[chunk <id>]` citations.
    pub draft: String,
    /// The narrative stored with the latest decision, if any.
    pub saved: Option<String>,
}

/// Whether a CTR field is filled from reagent's data or left to the officer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldStatus {
    Filled,
    RequiredToComplete,
    NotApplicable,
}

#[derive(Debug, Clone, Serialize)]
pub struct CtrField {
    pub field: &'static str,
    pub value: Option<String>,
    pub status: FieldStatus,
}

impl CtrField {
    fn filled(field: &'static str, value: impl Into<String>) -> Self {
        Self { field, value: Some(value.into()), status: FieldStatus::Filled }
    }
    fn required(field: &'static str) -> Self {
        Self { field, value: None, status: FieldStatus::RequiredToComplete }
    }
    fn not_applicable(field: &'static str) -> Self {
        Self { field, value: None, status: FieldStatus::NotApplicable }
    }
}

/// FinCEN Form 112 (CTR) data, by part.
#[derive(Debug, Clone, Serialize)]
pub struct CtrSheet {
    /// Part I: person(s) involved in the transaction(s).
    pub part_i_persons: Vec<CtrField>,
    /// Part II: amount and type of transaction(s).
    pub part_ii_amounts: Vec<CtrField>,
    /// Part III: financial institution where the transaction(s) took place.
    pub part_iii_institution: Vec<CtrField>,
}

/// A required action with its dates, as the case view lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseAction {
    pub code: ActionCode,
    pub title: String,
    pub deadline: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub days_left: Option<i64>,
    pub citations: Vec<Citation>,
}

/// `GET /api/v1/analyses/{id}/case`.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub analysis_id: Uuid,
    pub transaction_id: String,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub risk_level: crate::rules::RiskLevel,
    pub sar_candidate: bool,
    pub today: NaiveDate,
    pub due_on: Option<NaiveDate>,
    pub days_left: Option<i64>,
    pub overdue: bool,
    pub actions: Vec<CaseAction>,
    /// Oldest first; empty when the analysis stored no rule input.
    pub related_transactions: Vec<RelatedTransaction>,
    pub narrative: Narrative,
    /// Present when the analysis requires a CTR.
    pub ctr: Option<CtrSheet>,
    pub decisions: Vec<Decision>,
}

/// The case of `analysis_id` for an officer (or admin), as of `today`.
pub async fn case(
    db: &Database,
    audit: &crate::audit::AuditLog,
    principal: &Principal,
    analysis_id: Uuid,
    institution: &InstitutionConfig,
    today: NaiveDate,
) -> Result<Case, ReviewError> {
    require_decide(principal)?;
    let analysis = db.get_analysis(analysis_id).await?.ok_or(ReviewError::NotFound(analysis_id))?;
    let input: Option<ValidRuleInput> = db
        .analysis_request(analysis_id)
        .await?
        .and_then(|r| r.get("request").cloned())
        .and_then(|v| serde_json::from_value::<RuleInput>(v).ok())
        .and_then(|i| i.parse().ok());
    let decisions = crate::decision::decisions(audit, analysis_id).await.map_err(|e| match e {
        crate::decision::DecisionError::Db(e) => ReviewError::Db(e),
        other => ReviewError::Invalid { field: "decisions", reason: other.to_string() },
    })?;
    Ok(build(&analysis, input.as_ref(), institution, today, decisions))
}

/// The case from an analysis, its stored rule input and its decisions. Pure.
pub fn build(
    analysis: &Analysis,
    input: Option<&ValidRuleInput>,
    institution: &InstitutionConfig,
    today: NaiveDate,
    decisions: Vec<Decision>,
) -> Case {
    let related = input.map(|i| related(analysis, i, institution)).unwrap_or_default();
    let due_on = analysis.earliest_due();
    let days = due_on.map(|d| days_left(d, today));
    let ctr = analysis
        .required_actions
        .iter()
        .any(|a| a.code == ActionCode::CtrFiling)
        .then(|| ctr_sheet(input.map(|i| &i.customer), &related));
    let saved = decisions.iter().rev().find_map(|d| d.narrative.clone());
    Case {
        analysis_id: analysis.analysis_id,
        transaction_id: analysis.transaction_id.clone(),
        customer_id: input.map(|i| i.customer.customer_id.clone()),
        customer_name: input.map(|i| i.customer.name.clone()),
        risk_level: analysis.risk_level,
        sar_candidate: analysis.required_actions.iter().any(|a| a.code == ActionCode::SarReview),
        today,
        due_on,
        days_left: days,
        overdue: days.is_some_and(|d| d < 0),
        actions: analysis
            .required_actions
            .iter()
            .map(|a| CaseAction {
                code: a.code,
                title: a.title.clone(),
                deadline: a.deadline.clone(),
                due_on: a.due_on,
                days_left: a.due_on.map(|d| days_left(d, today)),
                citations: a.citations.clone(),
            })
            .collect(),
        narrative: narrative(analysis, input, &related, saved),
        related_transactions: related,
        ctr,
        decisions,
    }
}

/// Whole-word mention of `id` in `text` (so `T1` does not match `T10`).
fn mentions(text: &str, id: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).any(|w| w == id)
}

fn related(analysis: &Analysis, input: &ValidRuleInput, institution: &InstitutionConfig) -> Vec<RelatedTransaction> {
    let current = &input.transaction;
    let mut txs: Vec<&ValidTransaction> = std::iter::once(current)
        .chain(input.recent_transactions.iter().filter(|t| t.customer_id == current.customer_id && t.transaction_id != current.transaction_id))
        .collect();
    txs.sort_by(|a, b| a.timestamp.cmp(&b.timestamp).then(a.transaction_id.cmp(&b.transaction_id)));
    txs.dedup_by(|a, b| a.transaction_id == b.transaction_id);
    txs.into_iter()
        .map(|t| {
            let is_current = t.transaction_id == current.transaction_id;
            RelatedTransaction {
                transaction_id: t.transaction_id.clone(),
                timestamp: t.timestamp.to_rfc3339(),
                business_day: calendar::business_day(&t.timestamp, institution),
                transaction_type: t.transaction_type.as_str().to_owned(),
                direction: match t.direction {
                    Direction::Inbound => "INBOUND",
                    Direction::Outbound => "OUTBOUND",
                }
                .to_owned(),
                amount: t.amount.rounded_to_cents().decimal(),
                currency: t.currency.as_str().to_owned(),
                origin_country: t.origin_country.as_str().to_owned(),
                destination_country: t.destination_country.as_str().to_owned(),
                cash: CashClass::of(t.transaction_type).map(|c| match c {
                    CashClass::In => "in",
                    CashClass::Out => "out",
                }),
                current: is_current,
                in_pattern: is_current
                    || analysis.required_actions.iter().any(|a| mentions(&a.description, &t.transaction_id)),
            }
        })
        .collect()
}

fn ids(citations: &[Citation]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = Vec::new();
    for c in citations {
        if !out.contains(&c.chunk_id) {
            out.push(c.chunk_id);
        }
    }
    out
}

fn cites_of<'a>(analysis: &'a Analysis, codes: &[ActionCode]) -> impl Iterator<Item = &'a RequiredAction> {
    analysis.required_actions.iter().filter(move |a| codes.contains(&a.code))
}

fn narrative(analysis: &Analysis, input: Option<&ValidRuleInput>, related: &[RelatedTransaction], saved: Option<String>) -> Narrative {
    // The action the narrative is about: the SAR review, else the most severe one.
    let primary = analysis
        .required_actions
        .iter()
        .find(|a| a.code == ActionCode::SarReview)
        .or_else(|| analysis.required_actions.first());
    let primary_cites = primary.map(|a| ids(&a.citations)).unwrap_or_default();
    let pattern: Vec<&RelatedTransaction> = related.iter().filter(|t| t.in_pattern).collect();
    let mut sections = Vec::with_capacity(6);

    let who = match input.map(|i| &i.customer) {
        Some(c) => format!(
            "Customer {} ({}), {} customer of {}; risk rating {}, KYC status {}{}.",
            c.name,
            c.customer_id,
            match c.customer_type {
                CustomerType::Individual => "an individual",
                CustomerType::Business => "a business",
            },
            c.country.as_str(),
            c.risk_rating.as_str(),
            c.kyc_status.as_str(),
            if c.is_pep { ", a politically exposed person" } else { "" },
        ),
        None => format!("The customer of transaction {} (no customer record was stored with the analysis).", analysis.transaction_id),
    };
    let mut who_cites = primary_cites.clone();
    for a in cites_of(analysis, &[ActionCode::EnhancedDueDiligence, ActionCode::KycRemediation]) {
        extend(&mut who_cites, ids(&a.citations));
    }
    sections.push(NarrativeSection { key: "who", text: who, citations: who_cites });

    let mut totals: Vec<(String, Decimal, usize)> = Vec::new();
    for t in &pattern {
        match totals.iter_mut().find(|(c, _, _)| *c == t.currency) {
            Some(e) => {
                e.1 += t.amount;
                e.2 += 1;
            }
            None => totals.push((t.currency.clone(), t.amount, 1)),
        }
    }
    let what = if pattern.is_empty() {
        format!("Transaction {} (its details were not stored with the analysis).", analysis.transaction_id)
    } else {
        format!(
            "{} transaction(s) totalling {}: {}.",
            pattern.len(),
            totals.iter().map(|(c, a, _)| format!("{c} {a:.2}")).collect::<Vec<_>>().join(" and "),
            pattern
                .iter()
                .map(|t| format!("{} {} {} {:.2}", t.transaction_id, t.transaction_type, t.currency, t.amount))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let mut what_cites = Vec::new();
    for a in cites_of(analysis, &[ActionCode::CtrFiling, ActionCode::SarReview]) {
        extend(&mut what_cites, ids(&a.citations));
    }
    if what_cites.is_empty() {
        what_cites = primary_cites.clone();
    }
    sections.push(NarrativeSection { key: "what", text: what, citations: what_cites });

    let when = match (pattern.first(), pattern.last()) {
        (Some(first), Some(last)) if first.business_day != last.business_day => format!(
            "Between business days {} and {} (first at {}, last at {}).",
            first.business_day, last.business_day, first.timestamp, last.timestamp
        ),
        (Some(first), _) => format!("On business day {} (at {}).", first.business_day, first.timestamp),
        _ => format!("Analysed at {}.", analysis.analyzed_at.to_rfc3339()),
    };
    sections.push(NarrativeSection { key: "when", text: when, citations: primary_cites.clone() });

    let mut places: Vec<String> = Vec::new();
    for t in &pattern {
        for p in [&t.origin_country, &t.destination_country] {
            if !places.contains(p) {
                places.push(p.clone());
            }
        }
    }
    let where_ = if places.is_empty() {
        "Location not recorded with the analysis.".to_owned()
    } else {
        format!(
            "Countries involved: {}. Branch and location of each transaction: to be completed from the bank's records.",
            places.join(", ")
        )
    };
    let mut where_cites = Vec::new();
    for a in cites_of(analysis, &[ActionCode::OfacBlockOrReject, ActionCode::TravelRuleRecords]) {
        extend(&mut where_cites, ids(&a.citations));
    }
    if where_cites.is_empty() {
        where_cites = primary_cites.clone();
    }
    sections.push(NarrativeSection { key: "where", text: where_, citations: where_cites });

    let mut why_cites = Vec::new();
    for a in &analysis.required_actions {
        extend(&mut why_cites, ids(&a.citations));
    }
    let why = if analysis.required_actions.is_empty() {
        "No obligation was found by the rules.".to_owned()
    } else {
        format!(
            "The rules found: {}.",
            analysis.required_actions.iter().map(|a| format!("{} ({})", a.title, a.code)).collect::<Vec<_>>().join("; ")
        )
    };
    sections.push(NarrativeSection { key: "why", text: why, citations: why_cites });

    let how = match primary {
        // The rule's own description is the pattern, with its amounts and dates;
        // the part before any LLM explanation, so the draft stays the rules' facts.
        Some(a) => a.description.split("\n\nExplanation (LLM):").next().unwrap_or_default().trim().to_owned(),
        None => "No pattern was found.".to_owned(),
    };
    sections.push(NarrativeSection { key: "how", text: how, citations: primary_cites });

    let draft = sections
        .iter()
        .map(|s| {
            let cites = s.citations.iter().map(|c| format!("[chunk {c}]")).collect::<Vec<_>>().join(" ");
            format!("{}: {} {}", heading(s.key), s.text, cites).trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    Narrative { sections, draft, saved }
}

/// `Who`, `What`, … for a section key.
pub fn heading(key: &str) -> &'static str {
    match key {
        "who" => "Who",
        "what" => "What",
        "when" => "When",
        "where" => "Where",
        "why" => "Why",
        _ => "How",
    }
}

fn extend(into: &mut Vec<Uuid>, more: Vec<Uuid>) {
    for id in more {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}

fn ctr_sheet(customer: Option<&ValidCustomer>, related: &[RelatedTransaction]) -> CtrSheet {
    let mut persons = Vec::new();
    match customer {
        Some(c) => {
            persons.push(CtrField::filled(
                "Person type",
                match c.customer_type {
                    CustomerType::Individual => "Individual (person on whose behalf the transaction was conducted)",
                    CustomerType::Business => "Entity (person on whose behalf the transaction was conducted)",
                },
            ));
            persons.push(CtrField::filled(
                "Individual's last name or entity's legal name (as recorded; split into last, first and middle names)",
                c.name.clone(),
            ));
            persons.push(CtrField::filled("Customer id at the institution", c.customer_id.clone()));
            persons.push(CtrField::filled("Country of the address", c.country.as_str()));
        }
        None => persons.push(CtrField::required("Individual's last name or entity's legal name")),
    }
    for f in [
        "Address (number, street, city, state, ZIP code)",
        "Taxpayer identification number (TIN) and its type",
        "Date of birth",
        "Occupation or type of business",
        "Form of identification used (type, number, issuing state or country)",
        "Contact phone number",
        "Individual presenting the transaction, if not the customer (name, address, ID)",
    ] {
        if f == "Date of birth" && customer.is_some_and(|c| c.customer_type == CustomerType::Business) {
            persons.push(CtrField::not_applicable(f));
        } else {
            persons.push(CtrField::required(f));
        }
    }

    // Part II covers the business day of the analysed transaction.
    let day = related.iter().find(|t| t.current).map(|t| t.business_day);
    let on_day: Vec<&RelatedTransaction> =
        related.iter().filter(|t| Some(t.business_day) == day && t.cash.is_some()).collect();
    let total = |class: &str| -> Decimal {
        on_day.iter().filter(|t| t.cash == Some(class) && t.currency == "USD").map(|t| t.amount).sum()
    };
    let foreign: Vec<String> = on_day
        .iter()
        .filter(|t| t.currency != "USD")
        .map(|t| format!("cash {} {} {:.2} ({})", t.cash.unwrap_or_default(), t.currency, t.amount, t.transaction_id))
        .collect();
    let mut amounts = vec![
        CtrField::filled("Cash in total (US dollars)", format!("{:.2}", total("in"))),
        CtrField::filled("Cash out total (US dollars)", format!("{:.2}", total("out"))),
    ];
    if foreign.is_empty() {
        amounts.push(CtrField::filled("Foreign cash in / out", "none"));
    } else {
        amounts.push(CtrField::filled("Foreign cash in / out (currency, amount)", foreign.join("; ")));
        amounts.push(CtrField::required("Foreign cash: US dollar equivalent and country of issue"));
    }
    match day {
        Some(d) => amounts.push(CtrField::filled("Date of transaction (business day, 31 CFR 1010.313)", d.to_string())),
        None => amounts.push(CtrField::required("Date of transaction")),
    }
    amounts.push(CtrField::filled(
        "Transactions aggregated",
        on_day.iter().map(|t| t.transaction_id.as_str()).collect::<Vec<_>>().join(", "),
    ));
    amounts.push(CtrField::required("Type of cash in / cash out (deposits, withdrawals, exchanges, negotiable instruments …)"));
    amounts.push(CtrField::required("Multiple transactions / armored car / ATM / mail deposit indicators"));

    let institution = [
        "Type of financial institution",
        "Primary federal regulator",
        "Legal name of the financial institution",
        "Employer identification number (EIN)",
        "Address of the institution or branch where the transaction occurred",
        "RSSD number or other identifier of the branch",
        "Contact office and phone number",
    ]
    .into_iter()
    .map(CtrField::required)
    .collect();
    CtrSheet { part_i_persons: persons, part_ii_amounts: amounts, part_iii_institution: institution }
}
