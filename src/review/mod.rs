//! The officer's review workflow over stored analyses: when each one is due
//! (the earliest typed due date of its required actions, set by the rules
//! engine as of the transaction).
//!
//! The rules own the dates ([`crate::rules::Finding::due_on`]); this module
//! only reads them, so the queue and every report agree with the analysis.

use chrono::NaiveDate;

use crate::guidance::Analysis;

/// The earliest due date among the analysis's required actions; `None` when
/// no action carries one (travel-rule records only, or an analysis stored
/// before due dates existed).
pub fn earliest_due(analysis: &Analysis) -> Option<NaiveDate> {
    analysis
        .required_actions
        .iter()
        .filter_map(|a| a.due_on)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An analysis as stored JSON, with actions carrying `due` (or none).
    fn analysis(due: &[Option<&str>]) -> Analysis {
        let actions: Vec<serde_json::Value> = due
            .iter()
            .map(|d| {
                let mut a = serde_json::json!({
                    "code": "CTR_FILING", "title": "t", "description": "d",
                    "deadline": null, "citations": []
                });
                if let Some(d) = d {
                    a["due_on"] = serde_json::json!(d);
                }
                a
            })
            .collect();
        let v = serde_json::json!({
            "analysis_id": "00000000-0000-0000-0000-000000000001", "transaction_id": "T",
            "risk_level": "HIGH", "risk_score": 0.9, "requires_review": true,
            "required_actions": actions, "compliance_issues": [], "recommendations": [],
            "generator": {"kind": "rules", "model": null, "degraded_reason": null},
            "retrieval": {"queries": [], "chunks": [],
                "filters": {"as_of": null, "jurisdictions": [], "document_types": [], "document_ids": []}},
            "processing_time_ms": 1, "analyzed_at": "2026-03-10T14:20:00Z", "prompt_version": "v"
        });
        match serde_json::from_value(v) {
            Ok(a) => a,
            Err(e) => panic!("test analysis: {e}"),
        }
    }

    #[test]
    fn earliest_due_is_the_minimum_over_actions_with_a_date() {
        let a = analysis(&[Some("2026-04-09"), None, Some("2026-03-25")]);
        assert_eq!(earliest_due(&a), NaiveDate::from_ymd_opt(2026, 3, 25));
    }

    /// Analyses stored before `due_on` existed still load, with no date.
    #[test]
    fn analyses_without_due_dates_load_and_have_none() {
        assert_eq!(earliest_due(&analysis(&[None, None])), None);
        assert_eq!(earliest_due(&analysis(&[])), None);
    }
}
