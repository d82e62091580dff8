//! Owns the use-cases: what the front doors (the JSON API in `api/`, the web pages in
//! `web/`) do for a caller, over the analyzer, the database, the chunk store, the
//! audit trail and authentication. Analyze a stored or inline transaction, ask a
//! question, decide, review, judge citations, upload documents and follow their
//! ingestion jobs ([`jobs`], [`documents`]), screen a batch ([`batch`]), read the audit
//! timeline, manage keys. Every use-case returns [`AppError`]; each front door maps it
//! to its own answer. Nothing here knows routes, status codes or pages.

mod access;
pub mod batch;
pub mod documents;
pub mod evaluation;
mod error;
pub mod jobs;
pub mod keys;
pub mod monitoring;
pub mod sanctions;
mod service;
pub mod sessions;
pub mod trail;
pub mod transactions;
mod vocabulary;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use reagent_ingest::ChunkStore;
use reagent_ingest::store::{ChunkRecord, VersionInfo};
use serde::Deserialize;
use uuid::Uuid;

use crate::analysis::Analyzer;
use crate::audit::{AuditLog, QuestionAsked};
use crate::auth::Authenticator;
use crate::db::{AuditRow, Database};
use crate::domain::{Customer, RuleInput, Transaction, ValidationError};
use crate::guidance::{Analysis, GeneratorKind};
use case::Case;
pub use access::FailureBudgets;
pub use error::AppError;
pub use service::AppParts;
pub use vocabulary::*;

/// Told the timings of every analysis (the service's metrics).
pub trait AnalysisObserver: Send + Sync {
    fn analysed(&self, timings: &Timings, generator: GeneratorKind, degraded: bool);
}

/// The per-address budget of failed authentications, shared by every front door that
/// takes a credential (the API's middleware, the sign-in page) and kept where every
/// server over the same database charges the same budget.
#[async_trait::async_trait]
pub trait AuthBudget: Send + Sync {
    /// The name a client address is limited and audited under.
    fn source(&self, ip: std::net::IpAddr) -> String;
    /// Looks at `source`'s budget at `now` without spending it: `Err(wait)` when it is
    /// spent, with the time until the address may try again.
    async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<(), Duration>;
    /// Spends one token of `source`'s budget: a credential checked at `at` was invalid.
    /// Front doors call it through [`AuthAttempt::failed`].
    async fn charge(&self, source: &str, at: DateTime<Utc>);
}

impl dyn AuthBudget {
    /// Checks `source`'s budget before its credential is looked at ([`AuthBudget::check`]).
    /// The attempt allowed costs a token only through [`AuthAttempt::failed`]: a valid
    /// credential, a failure that is not the caller's (the database down) and a request
    /// dropped before its check finished cost nothing.
    pub async fn reserve<'a>(&'a self, source: &'a str, now: DateTime<Utc>) -> Result<AuthAttempt<'a>, Duration> {
        self.check(source, now).await?;
        Ok(AuthAttempt { budget: self, source, at: now })
    }
}

/// An authentication attempt that its address's budget allowed.
pub struct AuthAttempt<'a> {
    budget: &'a dyn AuthBudget,
    source: &'a str,
    /// When it was allowed (the instant its failure is booked at).
    at: DateTime<Utc>,
}

impl AuthAttempt<'_> {
    /// The credential did not authenticate: spend one token of the budget.
    pub async fn failed(self) {
        self.budget.charge(self.source, self.at).await;
    }
}

/// The whole seconds a refused client is told to wait (`Retry-After`): `wait` rounded
/// up, at least 1. One rule for every front door and limit.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// What the use-cases share: one per process. Its parts are private, so a front door
/// reaches the database, the store, the audit trail and authentication only through
/// the use-cases (and the few accessors for wiring and probes of `service.rs`).
pub struct App {
    analyzer: Analyzer,
    db: Database,
    store: Arc<dyn ChunkStore>,
    /// The embedding model's id (shown by the readiness probe).
    model_id: String,
    /// Days of a customer's history loaded with a stored transaction (`server.lookback_days`).
    lookback_days: i64,
    /// API keys and JWTs → principals (`[auth]`).
    auth: Arc<Authenticator>,
    /// The hash-chained audit trail (`[audit]`).
    audit: Arc<AuditLog>,
    /// Jobs started by the front doors (ingestion, batches).
    jobs: Arc<jobs::Jobs>,
    /// The ingest pipeline for uploads (`None`: uploads are unavailable).
    documents: Option<Arc<documents::DocumentIngest>>,
    /// Told each analysis' timings (set once, by the front door that keeps metrics).
    observer: std::sync::OnceLock<Arc<dyn AnalysisObserver>>,
}

/// An analysis or a question names a stored transaction by id, or gives one inline
/// with its customer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct TransactionRequest {
    pub transaction_id: Option<String>,
    pub transaction: Option<Transaction>,
    pub customer: Option<Customer>,
    #[serde(default)]
    pub recent_transactions: Vec<Transaction>,
    pub question: Option<String>,
    /// Questions only: the date whose documents apply when no transaction is given.
    pub as_of: Option<NaiveDate>,
    /// Screen names against the newest sanctions list instead of the one in force
    /// on the transaction's date.
    #[serde(default)]
    pub sanctions_lookback: bool,
}

/// A stored transaction with its customer and the customer's history over
/// `lookback_days` (days as the institution's time zone counts them): the rule input
/// of an analysis by transaction id, for the API, the pages, batches and the CLI.
pub async fn stored_transaction(
    db: &Database,
    transaction_id: &str,
    lookback_days: i64,
    time_zone: chrono_tz::Tz,
) -> Result<Option<RuleInput>, crate::db::DbError> {
    db.transaction_context_in(transaction_id, lookback_days, time_zone).await
}

impl App {
    /// The stored transaction `id` as a rule input (see [`stored_transaction`]).
    pub async fn stored_transaction(&self, id: &str) -> Result<Option<RuleInput>, AppError> {
        let tz = self.analyzer.engine().config().time_zone();
        Ok(stored_transaction(&self.db, id, self.lookback_days, tz).await?)
    }

    /// Today in the institution's time zone.
    pub fn today(&self) -> NaiveDate {
        crate::review::today_in(self.analyzer.engine().config().time_zone())
    }

    /// The rule input a request names, if any.
    async fn resolve(&self, req: TransactionRequest) -> Result<Option<RuleInput>, AppError> {
        let lookback = req.sanctions_lookback;
        let input = match (req.transaction_id, req.transaction, req.customer) {
            (Some(_), Some(_), _) => {
                return Err(ValidationError::new(
                    "transaction_id",
                    "give either transaction_id or an inline transaction, not both",
                )
                .into());
            }
            (Some(id), None, _) => Some(
                self.stored_transaction(&id)
                    .await?
                    .ok_or_else(|| AppError::not_found_in("transaction_id", format!("no transaction {id:?}")))?,
            ),
            (None, Some(transaction), Some(customer)) => Some(RuleInput {
                transaction,
                customer,
                recent_transactions: req.recent_transactions,
                sanctions_lookback: false,
            }),
            (None, Some(_), None) => {
                return Err(ValidationError::new("customer", "an inline transaction needs its customer").into());
            }
            (None, None, _) => None,
        };
        Ok(input.map(|i| RuleInput { sanctions_lookback: lookback, ..i }))
    }

    /// Analyses the transaction `req` names (stored or inline), stores the analysis and
    /// audits it.
    pub async fn analyze(
        &self,
        req: TransactionRequest,
        actor: Actor,
        request_id: Option<&RequestId>,
    ) -> Result<Analysis, AppError> {
        if req.as_of.is_some() {
            return Err(ValidationError::new("as_of", "only /api/v1/ask takes as_of; analyses use the transaction's date").into());
        }
        let question = req.question.clone();
        let mut stored_request = serde_json::json!({
            "transaction_id": req.transaction_id,
            "inline": req.transaction.is_some(),
            "question": question,
        });
        let input = self.resolve(req).await?.ok_or_else(|| {
            AppError::from(ValidationError::new("transaction", "give transaction_id or an inline transaction with its customer"))
        })?;
        stored_request["request"] = serde_json::to_value(&input).unwrap_or_default();
        self.analyze_input(input, question, &stored_request, actor, request_id).await
    }

    /// Analyses `input`, reports the timings, stores the analysis with `request` (what
    /// was asked, as stored beside it), and audits it.
    pub async fn analyze_input(
        &self,
        input: RuleInput,
        question: Option<String>,
        request: &serde_json::Value,
        actor: Actor,
        request_id: Option<&RequestId>,
    ) -> Result<Analysis, AppError> {
        let customer_id = input.customer.customer_id.clone();
        let (analysis, timings) = self.analyzer.analyze(input, question).await?;
        if let Some(observer) = self.observer.get() {
            observer.analysed(&timings, analysis.generator.kind, analysis.generator.degraded_reason.is_some());
        }
        self.audit.record_analysis(actor, request_id, &analysis, request, &customer_id).await?;
        Ok(analysis)
    }

    /// Answers a question, about the transaction `req` names if any, and audits it.
    pub async fn ask(&self, req: TransactionRequest, actor: Actor, request_id: Option<&RequestId>) -> Result<Answer, AppError> {
        let question = req.question.clone().unwrap_or_default();
        let as_of = req.as_of;
        let input = self.resolve(req).await?;
        self.ask_about(input, question, as_of, actor, request_id).await
    }

    /// Answers `question` about `input` (or the documents in force `as_of`), and audits it.
    pub async fn ask_about(
        &self,
        input: Option<RuleInput>,
        question: String,
        as_of: Option<NaiveDate>,
        actor: Actor,
        request_id: Option<&RequestId>,
    ) -> Result<Answer, AppError> {
        let customer_id = input.as_ref().map(|i| i.customer.customer_id.clone());
        let answer = self.analyzer.ask(input, question, as_of).await?;
        let asked = QuestionAsked {
            answer_id: answer.answer_id,
            transaction_id: answer.transaction_id.as_deref(),
            question: &answer.question,
            citations: answer.citations.len(),
            customer_id: customer_id.as_deref(),
        };
        self.audit.question_asked(actor, request_id, &asked).await?;
        Ok(answer)
    }

    /// The stored analysis `id`.
    pub async fn analysis(&self, id: Uuid) -> Result<Analysis, AppError> {
        self.db.get_analysis(id).await?.ok_or_else(|| AppError::not_found(format!("no analysis {id}")))
    }

    /// The stored analysis `id`, or not found naming the `id` field.
    async fn require_analysis(&self, id: Uuid) -> Result<(), AppError> {
        match self.db.get_analysis(id).await? {
            Some(_) => Ok(()),
            None => Err(AppError::not_found_in("id", format!("no analysis {id}"))),
        }
    }

    /// Runs `read` on the chunk store in a blocking task; a store that fails is
    /// unavailable (logged), never an error text for the caller.
    async fn read_store<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn ChunkStore) -> Result<T, reagent_ingest::store::StoreError> + Send + 'static,
    ) -> Result<T, AppError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || read(store.as_ref()))
            .await
            .map_err(|e| AppError::internal("reading the chunk store failed", e))?
            .map_err(|e| {
                tracing::error!("chunk store: {e}");
                AppError::Unavailable { message: "the chunk store did not answer".into() }
            })
    }

    /// How the chunk store is doing (the readiness probe). A remote store waits for its
    /// server in `block_in_place`, so this does not stall the caller's runtime.
    pub fn store_health(&self) -> reagent_ingest::store::StoreHealth {
        self.store.health()
    }

    /// The chunk `id` of the store, if it is there.
    pub async fn chunk(&self, id: Uuid) -> Result<Option<ChunkRecord>, AppError> {
        self.read_store(move |store| store.get(id)).await
    }

    /// The stored versions of document `id`, or of every document.
    pub async fn document_versions(&self, id: Option<String>) -> Result<Vec<VersionInfo>, AppError> {
        self.read_store(move |store| store.versions(id.as_deref())).await
    }

    /// The chunks of `version` of document `id`.
    pub async fn version_chunks(&self, id: String, version: String) -> Result<Vec<ChunkRecord>, AppError> {
        self.read_store(move |store| store.chunks(&id, &version)).await
    }

    /// Records `principal`'s decision on analysis `id`.
    pub async fn decide(
        &self,
        principal: &Principal,
        request_id: Option<&RequestId>,
        id: Uuid,
        req: &DecisionRequest,
    ) -> Result<Decision, AppError> {
        Ok(crate::decision::decide(&self.audit, principal, request_id, id, req).await?)
    }

    /// The decisions on analysis `id`, oldest first.
    pub async fn decisions(&self, id: Uuid) -> Result<Vec<Decision>, AppError> {
        self.require_analysis(id).await?;
        self.decision_history(id).await
    }

    /// The decisions on analysis `id`, oldest first, for an analysis known to exist
    /// (none for an unknown one).
    pub async fn decision_history(&self, id: Uuid) -> Result<Vec<Decision>, AppError> {
        Ok(crate::decision::decisions(&self.audit, id).await?)
    }

    /// The review queue as `principal` filters it.
    pub async fn review_queue(&self, principal: &Principal, query: &QueueQuery) -> Result<ReviewQueue, AppError> {
        Ok(crate::review::queue(&self.db, principal, query, self.today()).await?)
    }

    /// Assigns analysis `id` in the queue (or unassigns it).
    pub async fn assign(
        &self,
        principal: &Principal,
        request_id: Option<&RequestId>,
        id: Uuid,
        req: &AssignRequest,
    ) -> Result<Option<crate::db::AssignmentRecord>, AppError> {
        Ok(crate::review::assign(&self.audit, principal, request_id, id, req).await?)
    }

    /// The case view of analysis `id`.
    pub async fn case(&self, principal: &Principal, id: Uuid) -> Result<Case, AppError> {
        let institution = &self.analyzer.engine().config().institution;
        Ok(crate::review::case::case(&self.db, &self.audit, principal, id, institution, self.today()).await?)
    }

    /// Records `principal`'s judgement of a citation of analysis `id`.
    pub async fn judge_citation(
        &self,
        principal: &Principal,
        request_id: Option<&RequestId>,
        id: Uuid,
        req: &FeedbackRequest,
    ) -> Result<CitationFeedback, AppError> {
        Ok(crate::feedback::record(&self.audit, self.store.clone(), principal, request_id, id, req).await?)
    }

    /// Every judgement of the citations of analysis `id`.
    pub async fn citation_feedback(&self, id: Uuid) -> Result<Vec<CitationFeedback>, AppError> {
        self.require_analysis(id).await?;
        Ok(crate::feedback::list(&self.db, id).await?)
    }

    /// Writes the officers' judgements given since `since` to `out` as training pairs
    /// (JSON lines, oldest first); what was written and skipped. The command line's
    /// exit codes tell the database's failures from the store's, so the workflow's
    /// error is kept.
    pub async fn export_feedback(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
        out: &mut dyn std::io::Write,
    ) -> Result<ExportReport, FeedbackError> {
        crate::feedback::export(&self.db, self.store.as_ref(), since, out).await
    }

    /// The audit timeline of one object (analysis, transaction, decision, key, job),
    /// oldest first; `object_id` must be given and at most 200 characters.
    pub async fn audit_timeline(&self, object_id: Option<&str>) -> Result<(String, Vec<AuditRow>), AppError> {
        let object_id = object_id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AppError::invalid("object_id", "give the object_id of a transaction, analysis, decision, key or job"))?;
        if object_id.len() > 200 {
            return Err(AppError::invalid("object_id", "must be at most 200 characters"));
        }
        let entries = self.audit.trail(object_id).await?;
        Ok((object_id.to_string(), entries))
    }
}

/// Runs `work` in a task of its own and waits for it: a use-case whose steps must all
/// happen once the first has (store a record, then audit it) runs them here, so a
/// caller hanging up (which drops its future) cannot stop it half-way.
pub async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, AppError>> + Send + 'static,
) -> Result<T, AppError> {
    tokio::spawn(work).await.unwrap_or_else(|e| Err(AppError::internal("the request failed on our side", e)))
}

impl App {
    /// Loads the sanctions list versions stored since the last look into the engine;
    /// how many were new.
    pub async fn refresh_sanctions(&self) -> Result<usize, crate::db::DbError> {
        self.db.refresh_sanctions(self.analyzer.engine().sanctions()).await
    }
}

/// How often a running service looks for sanctions list versions stored since it
/// started (by `reagent sanctions load` in another process).
const SANCTIONS_REFRESH: Duration = Duration::from_secs(60);

/// Loads the stored sanctions list versions into the engine, then keeps looking for
/// new ones in the background. A new version's index is built on its first use.
pub async fn watch_sanctions_lists(app: &Arc<App>) -> Result<(), crate::db::DbError> {
    let lists = app.analyzer.engine().sanctions().clone();
    app.refresh_sanctions().await?;
    if lists.is_empty() {
        tracing::warn!("no sanctions list loaded (`reagent sanctions load FILE --published DATE`): names are not screened");
    }
    let db = app.db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SANCTIONS_REFRESH);
        tick.tick().await;
        loop {
            tick.tick().await;
            match db.refresh_sanctions(&lists).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("loaded {n} new sanctions list version(s)"),
                Err(e) => tracing::warn!("refreshing the sanctions lists: {e}"),
            }
        }
    });
    Ok(())
}
