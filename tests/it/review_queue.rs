//! The review queue and case view through the JSON API (issue 15): ordering by
//! due date (business days and federal holidays), items without a due date
//! last, filters, audited assignment, a decision taking an item out, 403s for
//! roles that may not decide, and the case document (related transactions, SAR
//! narrative sections citing chunks, CTR data sheet fields).

use crate::common;

use common::send;
use common::server::{self, TestServer};
use reagent::auth::Role;
use serde_json::{Value, json};

fn customer(id: &str, risk: &str) -> Value {
    json!({"customer_id": id, "name": format!("Customer {id}"), "customer_type": "INDIVIDUAL",
           "risk_rating": risk, "kyc_status": "COMPLETE", "is_pep": false, "country": "US"})
}

fn tx(id: &str, customer: &str, ty: &str, amount: f64, currency: &str, dest: &str, ts: &str) -> Value {
    let direction = if ty == "CASH_DEPOSIT" { "INBOUND" } else { "OUTBOUND" };
    json!({"transaction_id": id, "customer_id": customer, "amount": amount, "currency": currency,
           "transaction_type": ty, "direction": direction, "origin_country": "US",
           "destination_country": dest, "timestamp": ts})
}

/// Analyses an inline transaction (with `recent` history) as the admin; the analysis.
async fn analyze(server: &TestServer, t: Value, c: Value, recent: Vec<Value>) -> Value {
    let body = json!({"transaction": t, "customer": c, "recent_transactions": recent});
    let (status, a) = send(server.client().post(server.url("/api/v1/analyze")).json(&body)).await;
    assert_eq!(status, 200, "{a}");
    a
}

async fn queue(server: &TestServer, role: Role, query: &str) -> (u16, Value) {
    send(server.client_as(role).get(server.url(&format!("/api/v1/review-queue{query}")))).await
}

fn ids(q: &Value) -> Vec<String> {
    q["items"].as_array().unwrap().iter().map(|i| i["transaction_id"].as_str().unwrap().to_owned()).collect()
}

/// Four items whose due dates differ from their creation order: the queue is
/// earliest due first, the item without a due date last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_orders_by_due_date_with_business_days_and_holidays_then_filters() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    // A HIGH-rated customer: EDD, started within 10 business days (bank
    // procedure). From Friday 2026-05-22 that crosses Memorial Day (05-25): 06-08.
    analyze(&server, tx("Q-EDD-LATE", "QC1", "CARD", 200.0, "USD", "US", "2026-05-22T14:00:00Z"), customer("QC1", "HIGH"), vec![]).await;
    // A wire in a currency with no rate: review required, no action, no due date.
    analyze(&server, tx("Q-NODATE", "QC2", "WIRE", 5_000.0, "JPY", "DE", "2026-05-20T14:00:00Z"), customer("QC2", "LOW"), vec![]).await;
    // Wire to Iran on Wednesday 2026-05-20: OFAC report in 10 business days,
    // across a weekend and Memorial Day: 2026-06-04, not 06-03.
    analyze(&server, tx("Q-OFAC", "QC3", "WIRE", 5_000.0, "USD", "IR", "2026-05-20T14:00:00Z"), customer("QC3", "LOW"), vec![]).await;
    // EDD from Friday 2026-05-08: two plain weeks, 2026-05-22.
    analyze(&server, tx("Q-EDD-EARLY", "QC4", "CARD", 200.0, "USD", "US", "2026-05-08T14:00:00Z"), customer("QC4", "HIGH"), vec![]).await;

    let (status, q) = queue(&server, Role::ComplianceOfficer, "").await;
    assert_eq!(status, 200, "{q}");
    let order: Vec<String> = ids(&q).into_iter().filter(|id| id.starts_with("Q-")).collect();
    assert_eq!(order, ["Q-EDD-EARLY", "Q-OFAC", "Q-EDD-LATE", "Q-NODATE"], "{q:#}");
    let item = |id: &str| q["items"].as_array().unwrap().iter().find(|i| i["transaction_id"] == id).cloned().unwrap();
    assert_eq!(item("Q-EDD-EARLY")["due_on"], "2026-05-22");
    assert_eq!(item("Q-OFAC")["due_on"], "2026-06-04");
    assert_eq!(item("Q-EDD-LATE")["due_on"], "2026-06-08");
    assert_eq!(item("Q-NODATE")["due_on"], Value::Null);
    // Days left count from today in the institution's time zone; these dates are past.
    let today: chrono::NaiveDate = q["today"].as_str().unwrap().parse().unwrap();
    let due: chrono::NaiveDate = "2026-05-22".parse().unwrap();
    assert_eq!(item("Q-EDD-EARLY")["days_left"], json!((due - today).num_days()));
    assert_eq!(item("Q-EDD-EARLY")["overdue"], json!(due < today));

    // Filters: action, risk, due-date range; bad values name the field.
    let (_, q) = queue(&server, Role::ComplianceOfficer, "?action=ENHANCED_DUE_DILIGENCE&from=2026-05-01&to=2026-06-30").await;
    // Iran is also a FATF call-for-action country: the OFAC item carries EDD too.
    assert_eq!(ids(&q), ["Q-EDD-EARLY", "Q-OFAC", "Q-EDD-LATE"]);
    let (_, q) = queue(&server, Role::ComplianceOfficer, "?action=OFAC_BLOCK_OR_REJECT").await;
    assert_eq!(ids(&q), ["Q-OFAC"]);
    let (_, q) = queue(&server, Role::ComplianceOfficer, "?action=ENHANCED_DUE_DILIGENCE&from=2026-06-05").await;
    assert_eq!(ids(&q), ["Q-EDD-LATE"]);
    let level = item("Q-OFAC")["risk_level"].as_str().unwrap().to_owned();
    let (_, q) = queue(&server, Role::ComplianceOfficer, &format!("?risk={level}")).await;
    assert!(ids(&q).contains(&"Q-OFAC".to_owned()), "{q}");
    assert!(q["items"].as_array().unwrap().iter().all(|i| i["risk_level"] == level.as_str()), "{q}");
    let (_, q) = queue(&server, Role::Admin, "?from=2026-06-01&to=2026-06-05").await;
    assert_eq!(ids(&q), ["Q-OFAC"]);
    for (query, field) in [("?action=CTR", "action"), ("?risk=SEVERE", "risk"), ("?from=tomorrow", "from"), ("?from=2026-06-02&to=2026-06-01", "to"), ("?limit=0", "limit")] {
        let (status, body) = queue(&server, Role::ComplianceOfficer, query).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_is_audited_and_a_decision_takes_the_item_out() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let a = analyze(&server, tx("A-OFAC", "AC1", "WIRE", 5_000.0, "USD", "IR", "2026-05-20T14:00:00Z"), customer("AC1", "LOW"), vec![]).await;
    let id = a["analysis_id"].as_str().unwrap().to_owned();
    let assign = |role: Role, body: Value| server.client_as(role).post(server.url(&format!("/api/v1/analyses/{id}/assignment"))).json(&body);

    // Roles that may not decide get 403, for the queue, assignment and case.
    for role in [Role::Viewer, Role::Analyst, Role::PolicyEditor] {
        assert_eq!(queue(&server, role, "").await.0, 403, "{role}");
        assert_eq!(send(assign(role, json!({"assignee": "me"}))).await.0, 403, "{role}");
        let (status, _) = send(server.client_as(role).get(server.url(&format!("/api/v1/analyses/{id}/case")))).await;
        assert_eq!(status, 403, "{role}");
    }

    // Assign to me (the officer), then the admin reassigns it to the officer's key.
    let (status, body) = send(assign(Role::ComplianceOfficer, json!({"assignee": "me"}))).await;
    assert_eq!(status, 200, "{body}");
    let officer_id = body["assignment"]["assignee_id"].as_str().unwrap().to_owned();
    let (_, q) = queue(&server, Role::ComplianceOfficer, "?assignee=me").await;
    assert_eq!(ids(&q), ["A-OFAC"]);
    let (_, q) = queue(&server, Role::ComplianceOfficer, "?assignee=none").await;
    assert!(!ids(&q).contains(&"A-OFAC".to_owned()), "{q}");
    let (_, q) = queue(&server, Role::Admin, "?assignee=me").await;
    assert!(ids(&q).is_empty(), "assigned to the officer, not the admin: {q}");
    // Only an active officer may be assigned: the viewer's key is refused.
    let viewer_id = server.db.list_api_keys().await.unwrap().into_iter().find(|k| k.role == "viewer").unwrap().key_id;
    let (status, body) = send(assign(Role::Admin, json!({"assignee": viewer_id}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("assignee")), "{body}");
    let (status, body) = send(assign(Role::Admin, json!({"assignee": null}))).await;
    assert_eq!((status, &body["assignment"]), (200, &Value::Null), "{body}");
    let (status, body) = send(assign(Role::Admin, json!({"assignee": officer_id}))).await;
    assert_eq!(status, 200, "{body}");

    // The audit trail holds each change, with who did it.
    let (_, trail) = send(server.client().get(server.url(&format!("/api/v1/audit?object_id={id}")))).await;
    let actions: Vec<&str> = trail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "review.assign").count(), 2, "{trail}");
    assert_eq!(actions.iter().filter(|a| **a == "review.unassign").count(), 1, "{trail}");

    // A decision (with a narrative) takes it out of the queue; assigning it then is a 409.
    let (status, d) = send(server.client_as(Role::ComplianceOfficer).post(server.url(&format!("/api/v1/analyses/{id}/decision")))
        .json(&json!({"decision": "escalate", "comment": "blocked, report filed", "narrative": "Who: Customer AC1 [chunk x]"}))).await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["narrative"], "Who: Customer AC1 [chunk x]");
    let (_, q) = queue(&server, Role::ComplianceOfficer, "").await;
    assert!(!ids(&q).contains(&"A-OFAC".to_owned()), "{q}");
    assert_eq!(send(assign(Role::ComplianceOfficer, json!({"assignee": "me"}))).await.0, 409);
    // The narrative is kept with the decision and shown in the case.
    let (_, case) = send(server.client_as(Role::ComplianceOfficer).get(server.url(&format!("/api/v1/analyses/{id}/case")))).await;
    assert_eq!(case["narrative"]["saved"], "Who: Customer AC1 [chunk x]");
    // Unknown analysis: 404 naming the id.
    let missing = uuid::Uuid::new_v4();
    let (status, body) = send(server.client().post(server.url(&format!("/api/v1/analyses/{missing}/assignment"))).json(&json!({"assignee": "me"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (404, Some("id")), "{body}");
}

/// A structuring pattern with a CTR-size day: the case lists the history the
/// rules used, marks the pattern, cites chunks in every narrative section and
/// fills the CTR sheet from the data it has, marking the rest required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_json_has_pattern_narrative_citations_and_ctr_fields() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let history = vec![
        tx("C-1", "CC1", "CASH_DEPOSIT", 9_600.0, "USD", "US", "2026-04-01T14:00:00Z"),
        tx("C-2", "CC1", "CASH_DEPOSIT", 9_800.0, "USD", "US", "2026-04-02T14:00:00Z"),
        tx("C-0", "CC1", "WIRE", 400.0, "USD", "US", "2026-03-30T14:00:00Z"),
    ];
    let a = analyze(&server, tx("C-3", "CC1", "CASH_DEPOSIT", 10_500.0, "USD", "US", "2026-04-06T14:00:00Z"), customer("CC1", "LOW"), history).await;
    let id = a["analysis_id"].as_str().unwrap();
    let codes: Vec<&str> = a["required_actions"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"SAR_REVIEW") && codes.contains(&"CTR_FILING"), "{codes:?}");
    let (status, case) = send(server.client_as(Role::ComplianceOfficer).get(server.url(&format!("/api/v1/analyses/{id}/case")))).await;
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["sar_candidate"], true);

    let related = case["related_transactions"].as_array().unwrap();
    let rel_ids: Vec<&str> = related.iter().map(|t| t["transaction_id"].as_str().unwrap()).collect();
    assert_eq!(rel_ids, ["C-0", "C-1", "C-2", "C-3"], "oldest first");
    let in_pattern: Vec<&str> = related.iter().filter(|t| t["in_pattern"] == true).map(|t| t["transaction_id"].as_str().unwrap()).collect();
    assert!(in_pattern.contains(&"C-1") && in_pattern.contains(&"C-3") && !in_pattern.contains(&"C-0"), "{in_pattern:?}");
    assert_eq!(related[3]["amount"], "10500.00");

    // Every narrative section cites chunks the analysis retrieved.
    let retrieved: Vec<&str> = a["retrieval"]["chunks"].as_array().unwrap().iter().map(|c| c["chunk_id"].as_str().unwrap()).collect();
    let sections = case["narrative"]["sections"].as_array().unwrap();
    let keys: Vec<&str> = sections.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["who", "what", "when", "where", "why", "how"]);
    for s in sections {
        let cites = s["citations"].as_array().unwrap();
        assert!(!cites.is_empty(), "{s}");
        for c in cites {
            assert!(retrieved.contains(&c.as_str().unwrap()), "{c} was not retrieved");
            assert!(case["narrative"]["draft"].as_str().unwrap().contains(&format!("[chunk {}]", c.as_str().unwrap())));
        }
    }
    assert!(sections[0]["text"].as_str().unwrap().contains("Customer CC1"), "{}", sections[0]);
    assert!(sections[1]["text"].as_str().unwrap().contains("C-2"), "{}", sections[1]);

    // CTR sheet: the day's cash in total, the name filled; unknown fields required.
    let ctr = &case["ctr"];
    let field = |part: &str, name: &str| -> Value {
        ctr[part].as_array().unwrap().iter().find(|f| f["field"].as_str().unwrap().starts_with(name)).cloned().unwrap_or_else(|| panic!("{part}: {name}"))
    };
    assert_eq!(field("part_ii_amounts", "Cash in total")["value"], "10500.00");
    assert_eq!(field("part_ii_amounts", "Cash out total")["value"], "0.00");
    assert_eq!(field("part_ii_amounts", "Date of transaction")["value"], "2026-04-06");
    assert_eq!(field("part_i_persons", "Individual's last name")["value"], "Customer CC1");
    for (part, name) in [("part_i_persons", "Taxpayer identification number"), ("part_i_persons", "Date of birth"), ("part_i_persons", "Address"), ("part_iii_institution", "Legal name")] {
        let f = field(part, name);
        assert_eq!((f["status"].as_str(), &f["value"]), (Some("required_to_complete"), &Value::Null), "{f}");
    }
}
