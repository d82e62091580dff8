//! Owns nothing: the types (and the few pure helpers) of the lower layers that the
//! front doors name in their requests, answers and pages, re-exported so that a front
//! door imports `app` and the domain, never the records, pipeline or workflow modules.

pub use crate::analysis::{Answer, Timings};
pub use crate::audit::Actor;
pub use crate::audit::refusals::Refusal;
pub use crate::auth::{ApiKeyInfo, AuthError, CreatedKey, Permission, Principal, RequestId, Role};
pub use crate::db::{MAX_QUEUE_PAGE, TransactionRow};
pub use crate::decision::{Decision, DecisionKind, DecisionRequest, MAX_COMMENT_CHARS};
pub use crate::feedback::{CitationFeedback, ExportReport, FeedbackError, FeedbackRequest, MAX_NOTE_CHARS, Verdict};
pub use crate::generation::LLM_SUGGESTION_PREFIX;
pub use crate::review::{AssignRequest, QueueQuery, ReviewQueue, days_left};

/// The case view of an analysis (`crate::review::case`).
pub mod case {
    pub use crate::review::case::{Case, CtrField, FieldStatus, MAX_NARRATIVE_CHARS, RelatedTransaction, heading};
}
