//! Officers' feedback on citations through the JSON API
//! (`/api/v1/analyses/{id}/feedback`): a judgement is stored and audited, a later one
//! replaces it, who may judge follows `Role::allows`, and every bad request is
//! refused with the field named and nothing written.

use crate::common;

use common::send;
use common::server::{self, analyze};
use reagent::auth::Role;
use serde_json::{Value, json};

fn audit_actions(trail: &[reagent::db::AuditRow], analysis_id: &str) -> Vec<String> {
    trail.iter().filter(|e| e.related_id == analysis_id && e.action.starts_with("feedback.")).map(|e| e.action.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_judge_citations_and_a_later_judgement_replaces_the_earlier() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let analysis = analyze(&server, "TXN003").await;
    let id = analysis["analysis_id"].as_str().unwrap().to_string();
    let action = analysis["required_actions"][0]["code"].as_str().expect("TXN003 requires an action").to_string();
    let cited: Vec<&str> = analysis["required_actions"][0]["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chunk_id"].as_str().unwrap())
        .collect();
    let chunk = cited.first().expect("the action is cited").to_string();
    // A retrieved chunk not cited for this action: in the store, so a valid better chunk,
    // and not a valid `chunk_id` for this action.
    let retrieved: Vec<String> = analysis["retrieval"]["chunks"].as_array().unwrap().iter().map(|c| c["chunk_id"].as_str().unwrap().to_string()).collect();
    let other = retrieved.iter().find(|c| !cited.contains(&c.as_str())).expect("a retrieved chunk not cited for the action").clone();
    assert!(
        analysis["retrieval"]["action_queries"].as_array().is_some_and(|q| q.iter().any(|q| q["action"] == action.as_str())),
        "the analysis records the query of each action: {}",
        analysis["retrieval"]
    );
    let url = server.url(&format!("/api/v1/analyses/{id}/feedback"));
    let officer = server.client_as(Role::ComplianceOfficer);

    // Roles that may not decide on analyses may not judge citations either.
    for role in [Role::Viewer, Role::Analyst, Role::PolicyEditor] {
        let (status, body) = send(server.client_as(role).post(&url).json(&json!({"action": action, "chunk_id": chunk, "verdict": "supports"}))).await;
        assert_eq!(status, 403, "{role}: {body}");
    }

    // Bad requests name the field, and write nothing.
    let entries_before = server.db.audit_page(0, 100_000).await.unwrap().len();
    let missing = uuid::Uuid::new_v4().to_string();
    let unused_action = if action == "KYC_REMEDIATION" { "CTR_FILING" } else { "KYC_REMEDIATION" };
    for (req, field) in [
        (json!({"action": unused_action, "chunk_id": chunk, "verdict": "supports"}), "action"),
        (json!({"action": "NOT_AN_ACTION", "chunk_id": chunk, "verdict": "supports"}), "action"),
        (json!({"action": action, "chunk_id": other, "verdict": "supports"}), "chunk_id"),
        (json!({"action": action, "chunk_id": "nope", "verdict": "supports"}), "chunk_id"),
        (json!({"action": action, "chunk_id": chunk, "verdict": "maybe"}), "verdict"),
        (json!({"action": action, "chunk_id": chunk}), "verdict"),
        (json!({"action": action, "chunk_id": chunk, "verdict": "does_not_support", "better_chunk_id": missing}), "better_chunk_id"),
        (json!({"action": action, "chunk_id": chunk, "verdict": "does_not_support", "better_chunk_id": chunk}), "better_chunk_id"),
        (json!({"action": action, "chunk_id": chunk, "verdict": "supports", "better_chunk_id": other}), "better_chunk_id"),
        (json!({"action": action, "chunk_id": chunk, "verdict": "supports", "note": "x".repeat(1001)}), "note"),
        (json!({"action": action, "chunk_id": chunk, "verdict": "supports", "extra": 1}), "extra"),
    ] {
        let (status, body) = send(officer.post(&url).json(&req)).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{req} → {body}");
    }
    let (status, body) = send(officer.post(server.url(&format!("/api/v1/analyses/{missing}/feedback"))).json(&json!({"action": action, "chunk_id": chunk, "verdict": "supports"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (404, Some("id")), "{body}");
    let (status, _) = send(server.client_as(Role::Viewer).get(server.url(&format!("/api/v1/analyses/{missing}/feedback")))).await;
    assert_eq!(status, 404);
    let (status, body) = send(officer.post(server.url("/api/v1/analyses/not-a-uuid/feedback")).json(&json!({"action": action, "chunk_id": chunk, "verdict": "supports"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("id")), "{body}");
    assert_eq!(server.db.audit_page(0, 100_000).await.unwrap().len(), entries_before, "refused requests wrote no audit entry");
    let (_, list) = send(officer.get(&url)).await;
    assert_eq!(list, json!([]), "nothing stored");

    // The happy path: stored, answered 201, listed for readers of analyses.
    let (status, first) = send(officer.post(&url).json(&json!({"action": action, "chunk_id": chunk, "verdict": "supports", "note": "  the threshold is here  "}))).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!((first["verdict"].as_str(), first["action"].as_str(), first["chunk_id"].as_str()), (Some("supports"), Some(action.as_str()), Some(chunk.as_str())));
    assert_eq!((first["role"].as_str(), first["judged_by_name"].as_str()), (Some("compliance_officer"), Some("test compliance_officer")));
    assert_eq!(first["note"], "the threshold is here", "the note is trimmed");
    let (status, list) = send(server.client_as(Role::Viewer).get(&url)).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([first.clone()]));

    // The same officer changes their mind: the row is replaced (same id, first time kept).
    let (status, second) = send(officer.post(&url).json(&json!({"action": action, "chunk_id": chunk, "verdict": "does_not_support", "better_chunk_id": other}))).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["feedback_id"], first["feedback_id"]);
    assert_eq!(second["created_at"], first["created_at"]);
    assert_eq!((second["verdict"].as_str(), second["better_chunk_id"].as_str()), (Some("does_not_support"), Some(other.as_str())));
    assert_eq!(second["note"], Value::Null, "the new judgement carries no note");
    // Another officer (the admin) judges the same citation: a row of their own.
    let (status, by_admin) = send(server.client().post(&url).json(&json!({"action": action, "chunk_id": chunk, "verdict": "supports"}))).await;
    assert_eq!(status, 201, "{by_admin}");
    assert_ne!(by_admin["feedback_id"], first["feedback_id"]);
    let (_, list) = send(officer.get(&url)).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.contains(&second) && list.contains(&by_admin), "{list:?}");

    // Every judgement is in the audit trail, related to the analysis; the chain holds.
    let trail = server.db.audit_page(0, 100_000).await.unwrap();
    assert_eq!(audit_actions(&trail, &id), ["feedback.record", "feedback.replace", "feedback.record"]);
    let replace = trail.iter().find(|e| e.action == "feedback.replace").unwrap();
    let details: Value = serde_json::from_str(&replace.details).unwrap();
    assert_eq!((details["verdict"].as_str(), details["previous_verdict"].as_str()), (Some("does_not_support"), Some("supports")));
    assert_eq!(replace.object_id, first["feedback_id"].as_str().unwrap());
    assert_eq!(replace.actor_role, "compliance_officer");
    assert!(!replace.request_id.is_empty());
    let recorded: Value = serde_json::from_str(&trail.iter().find(|e| e.action == "feedback.record").unwrap().details).unwrap();
    assert!(recorded["note_sha256"].as_str().is_some_and(|h| h.len() == 64), "the note is audited as a hash: {recorded}");
    assert!(!trail.iter().any(|e| e.details.contains("the threshold is here")), "the note's text stays out of the trail");
    assert!(reagent::audit::verify(&server.db).await.unwrap().ok());
}
