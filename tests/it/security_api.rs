//! Access control, decisions, the audit trail and document upload through HTTP:
//! every operation in the OpenAPI document with every role (and without
//! credentials) answers 2xx, 403 or 401 exactly as its `x-required-roles` say;
//! JWTs and revoked keys; the decision workflow with its override rule; the
//! audit timeline; multipart upload to an ingestion job.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::send;
use common::multipart::form as multipart;
use common::server::{self, TestServer, analyze};
use reagent::auth::Role;
use serde_json::{Value, json};

const POLICY_MD: &str = "# Test Upload Policy\n\n## 1. Cash\n\nTellers escalate cash deposits above 9,000 dollars to the BSA officer the same day.\n";

fn upload_request(client: &reqwest::Client, server: &TestServer, id: &str) -> reqwest::RequestBuilder {
    let (ct, body) = multipart(
        &[("upload-policy.md", POLICY_MD.as_bytes())],
        &[("id", id), ("title", "Test Upload Policy"), ("version", "2026-01-01"), ("type", "policy"), ("effective_from", "2026-01-01")],
    );
    client.post(server.url("/api/v1/documents")).header("content-type", ct).body(body)
}

/// A batch upload of one transaction (`MATRIX-n`) with its customer.
fn batch_request(client: &reqwest::Client, server: &TestServer, n: usize) -> reqwest::RequestBuilder {
    let csv = format!(
        "transaction_id,customer_id,amount,currency,transaction_type,direction,origin_country,destination_country,timestamp,name,customer_type,risk_rating,kyc_status,is_pep,country\n\
         MATRIX-{n},MATRIX-C,25,USD,CARD,OUTBOUND,US,US,2026-03-10T15:00:00Z,Matrix Holder,INDIVIDUAL,LOW,COMPLETE,false,US\n"
    );
    let (ct, body) = multipart(&[("matrix.csv", csv.as_bytes())], &[]);
    client.post(server.url("/api/v1/batches")).header("content-type", ct).body(body)
}

async fn wait_for_job(server: &TestServer, job_id: &str) -> Value {
    for _ in 0..600 {
        let (status, job) = send(server.client().get(server.url(&format!("/api/v1/jobs/{job_id}")))).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job_id} did not finish");
}

/// A valid request for `method path` (2xx for a role allowed to make it).
async fn request_for(server: &TestServer, client: &reqwest::Client, method: &str, path: &str, n: usize) -> reqwest::RequestBuilder {
    let url = |p: &str| server.url(p);
    match (method, path) {
        ("get", "/api/v1/analyses/{id}" | "/api/v1/analyses/{id}/decisions") => {
            let id = analyze(server, "TXN001").await["analysis_id"].as_str().unwrap().to_string();
            client.get(url(&path.replace("{id}", &id)))
        }
        ("post", "/api/v1/analyses/{id}/decision") => {
            let id = analyze(server, "TXN002").await["analysis_id"].as_str().unwrap().to_string();
            client.post(url(&path.replace("{id}", &id))).json(&json!({"decision": "escalate", "comment": "needs a second look"}))
        }
        ("get", "/api/v1/analyses/{id}/feedback") => {
            let id = analyze(server, "TXN001").await["analysis_id"].as_str().unwrap().to_string();
            client.get(url(&path.replace("{id}", &id)))
        }
        ("post", "/api/v1/analyses/{id}/feedback") => {
            let a = analyze(server, "TXN003").await;
            let (id, action) = (a["analysis_id"].as_str().unwrap(), &a["required_actions"][0]["code"]);
            let chunk = &a["required_actions"][0]["citations"][0]["chunk_id"];
            client.post(url(&path.replace("{id}", id))).json(&json!({"action": action, "chunk_id": chunk, "verdict": "supports"}))
        }
        ("post", "/api/v1/analyses/{id}/assignment") => {
            let id = analyze(server, "TXN003").await["analysis_id"].as_str().unwrap().to_string();
            client.post(url(&path.replace("{id}", &id))).json(&json!({"assignee": "me"}))
        }
        ("get", "/api/v1/analyses/{id}/case") => {
            let id = analyze(server, "TXN003").await["analysis_id"].as_str().unwrap().to_string();
            client.get(url(&path.replace("{id}", &id)))
        }
        ("get", "/api/v1/chunks/{id}") => {
            let a = analyze(server, "TXN003").await;
            let chunk = a["required_actions"][0]["citations"][0]["chunk_id"].as_str().expect("a cited chunk").to_string();
            client.get(url(&path.replace("{id}", &chunk)))
        }
        ("post", "/api/v1/analyze") => client.post(url(path)).json(&json!({"transaction_id": "TXN001"})),
        ("post", "/api/v1/ask") => client.post(url(path)).json(&json!({"question": "When is a CTR due?", "as_of": "2026-03-10"})),
        ("get", "/api/v1/audit") => client.get(url("/api/v1/audit?object_id=TXN001")),
        ("post", "/api/v1/documents") => upload_request(client, server, &format!("matrix-upload-{n}")),
        ("get", "/api/v1/jobs/{id}") => {
            let (status, job) = send(upload_request(&server.client(), server, &format!("matrix-job-{n}"))).await;
            assert_eq!(status, 202, "{job}");
            client.get(url(&path.replace("{id}", job["job_id"].as_str().unwrap())))
        }
        ("post", "/api/v1/batches") => batch_request(client, server, n),
        ("get", "/api/v1/batches/{id}") => {
            let (status, job) = send(batch_request(&server.client_as(Role::Analyst), server, n)).await;
            assert_eq!(status, 202, "{job}");
            client.get(url(&path.replace("{id}", job["job_id"].as_str().unwrap())))
        }
        ("post", "/api/v1/keys") => client.post(url(path)).json(&json!({"name": format!("made {n}"), "role": "viewer"})),
        ("delete", "/api/v1/keys/{id}") => {
            let admin = server.state.authenticate(server.key(Role::Admin)).await.unwrap();
            let k = server.state.create_key(&admin, None, format!("doomed {n}"), Role::Viewer).await.unwrap();
            client.delete(url(&path.replace("{id}", &k.info.key_id)))
        }
        ("get", p) if !p.contains('{') => client.get(url(p)),
        other => panic!("the role-matrix test has no request for {other:?}: add one"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_every_role_answers_as_documented() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let spec: Value = server.client().get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let bare = reqwest::Client::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut n = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let roles: BTreeSet<String> = op["x-required-roles"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} has no x-required-roles"))
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            let public = roles.is_empty();
            // No credential, then a malformed one.
            for client in [bare.clone(), reqwest::Client::builder().default_headers({
                let mut h = reqwest::header::HeaderMap::new();
                h.insert("x-api-key", "rk_000000000000_nope".parse().unwrap());
                h
            }).build().unwrap()] {
                n += 1;
                let (status, body) = send(request_for(&server, &client, method, path, n).await).await;
                let ok = if public { (200..300).contains(&status) } else { status == 401 };
                if !ok {
                    failures.push(format!("{method} {path} without a valid credential: {status} {body}"));
                }
            }
            for role in Role::ALL {
                n += 1;
                let client = server.client_as(role);
                let (status, body) = send(request_for(&server, &client, method, path, n).await).await;
                let allowed = public || roles.contains(role.as_str());
                let ok = if allowed { (200..300).contains(&status) } else { status == 403 };
                if !ok {
                    failures.push(format!("{method} {path} as {role}: {status} {body}"));
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every table entry is documented (and so was walked above), and every documented
    // operation is in the table.
    for (method, path, _) in reagent::api::auth::ROUTES {
        assert!(spec["paths"][*path][method.to_ascii_lowercase()].is_object(), "{method} {path} missing from the OpenAPI document");
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                reagent::api::auth::ROUTES.iter().any(|(m, p, _)| p == path && m.eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not in api::auth::ROUTES"
            );
        }
    }
    assert!(checked >= 5 * reagent::api::auth::ROUTES.len(), "walked {checked} role × route pairs");
    // Refusals were counted, and audited once flushed: one entry per source, action and
    // actor, holding the count. The chain is intact.
    assert!(server.state.pending_refusals() >= 30);
    assert!(server.state.flush_refusals().await >= 2);
    assert_eq!(server.state.pending_refusals(), 0);
    let trail = server.db.audit_page(0, 100_000).await.unwrap();
    let details = |e: &reagent::db::AuditRow| serde_json::from_str::<Value>(&e.details).unwrap();
    let entries = |action: &str| trail.iter().filter(|e| e.action == action).collect::<Vec<_>>();
    let total = |action: &str| entries(action).iter().map(|e| details(e)["count"].as_u64().unwrap()).sum::<u64>();
    let (forbidden, unauthenticated) = (total("auth.forbidden"), total("auth.unauthenticated"));
    assert!(forbidden >= 10 && unauthenticated >= 20, "{forbidden} forbidden, {unauthenticated} unauthenticated");
    assert_eq!(entries("auth.unauthenticated").len(), 1, "one source (the loopback address), one anonymous actor");
    assert!(entries("auth.forbidden").len() < Role::ALL.len(), "at most one entry per refused key");
    assert!(entries("auth.forbidden").iter().any(|e| e.actor_role == "viewer"
        && e.object_id == "ip:127.0.0.1"
        && details(e)["routes"]["POST /api/v1/analyze"].as_u64() >= Some(1)));
    assert!(reagent::audit::verify(&server.db).await.unwrap().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_follow_the_workflow_and_leave_a_timeline() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |c| c.auth.jwt_hs256_secret = "s".repeat(40)).await;
    let analysis = analyze(&server, "TXN003").await;
    let id = analysis["analysis_id"].as_str().unwrap();
    let url = server.url(&format!("/api/v1/analyses/{id}/decision"));
    let officer = server.client_as(Role::ComplianceOfficer);

    let (status, body) = send(server.client_as(Role::Analyst).post(&url).json(&json!({"decision": "approve", "comment": "ok"}))).await;
    assert_eq!(status, 403, "{body}");
    for (req, field) in [
        (json!({"decision": "approve", "comment": "   "}), "comment"),
        (json!({"decision": "shrug", "comment": "x"}), "decision"),
        (json!({"comment": "x"}), "decision"),
        (json!({"decision": "approve", "comment": "x", "extra": 1}), "extra"),
    ] {
        let (status, body) = send(officer.post(&url).json(&req)).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{req} → {body}");
    }
    let (status, body) = send(officer.post(server.url("/api/v1/analyses/not-a-uuid/decision")).json(&json!({"decision": "approve", "comment": "x"}))).await;
    assert_eq!(status, 400, "{body}");
    let missing = uuid::Uuid::new_v4();
    let (status, _) = send(officer.post(server.url(&format!("/api/v1/analyses/{missing}/decision"))).json(&json!({"decision": "approve", "comment": "x"}))).await;
    assert_eq!(status, 404);

    let (status, first) = send(officer.post(&url).json(&json!({"decision": "file_sar", "comment": "structuring pattern"}))).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!((first["decision"].as_str(), first["sequence"].as_i64(), first["role"].as_str()), (Some("file_sar"), Some(1), Some("compliance_officer")));
    assert_eq!(first["decided_by_name"], "test compliance_officer");
    let (status, body) = send(officer.post(&url).json(&json!({"decision": "approve", "comment": "changed my mind"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_decided")), "{body}");
    let (status, second) = send(server.client().post(&url).json(&json!({"decision": "reject", "comment": "override: duplicate of case 17", "override": true}))).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!((second["sequence"].as_i64(), &second["supersedes"]), (Some(2), &first["decision_id"]));

    let (status, list) = send(server.client_as(Role::Viewer).get(server.url(&format!("/api/v1/analyses/{id}/decisions")))).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().iter().map(|d| d["decision"].as_str().unwrap()).collect::<Vec<_>>(), ["file_sar", "reject"]);

    // The timeline of the analysis, and of its transaction.
    let (status, body) = send(server.client_as(Role::Viewer).get(server.url(&format!("/api/v1/audit?object_id={id}")))).await;
    assert_eq!(status, 403, "{body}");
    let (status, trail) = send(officer.get(server.url(&format!("/api/v1/audit?object_id={id}")))).await;
    assert_eq!(status, 200, "{trail}");
    let actions: Vec<&str> = trail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["analysis.create", "decision.create", "decision.override"], "{trail}");
    let events = trail["events"].as_array().unwrap();
    assert_eq!(events[1]["actor_role"], "compliance_officer");
    assert_eq!(events[2]["actor_role"], "admin");
    assert!(events.iter().all(|e| !e["request_id"].as_str().unwrap().is_empty()));
    let customer = events[0]["details"]["customer"].as_str().unwrap();
    assert!(customer.starts_with("hmac:"), "customer ids are pseudonymized: {customer}");
    let (_, by_txn) = send(officer.get(server.url("/api/v1/audit?object_id=TXN003"))).await;
    assert!(by_txn["events"].as_array().unwrap().len() >= 3, "{by_txn}");
    let (status, body) = send(officer.get(server.url("/api/v1/audit"))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("object_id")));
    // The raw customer id appears nowhere in the trail.
    let all = server.db.audit_page(0, 100_000).await.unwrap();
    let raw_customer = server.db.get_transaction("TXN003").await.unwrap().unwrap().customer_id;
    assert!(all.iter().all(|e| !e.details.contains(&raw_customer)), "{raw_customer} leaked into the audit log");

    // JWT: a viewer token reads but may not analyze; wrong secret or expired → 401.
    let token = |secret: &str, role: &str, exp: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"sub": "alice", "name": "Alice", "role": role, "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let later = chrono::Utc::now().timestamp() + 600;
    let secret = "s".repeat(40);
    let bearer = |t: String| format!("Bearer {t}");
    let get = server.url(&format!("/api/v1/analyses/{id}"));
    let (status, _) = send(reqwest::Client::new().get(&get).header("authorization", bearer(token(&secret, "viewer", later)))).await;
    assert_eq!(status, 200);
    let (status, _) = send(reqwest::Client::new().post(server.url("/api/v1/analyze")).header("authorization", bearer(token(&secret, "viewer", later))).json(&json!({"transaction_id": "TXN001"}))).await;
    assert_eq!(status, 403);
    let (status, _) = send(reqwest::Client::new().get(&get).header("authorization", bearer(token(&"t".repeat(40), "viewer", later)))).await;
    assert_eq!(status, 401);
    let (status, _) = send(reqwest::Client::new().get(&get).header("authorization", bearer(token(&secret, "viewer", later - 7200)))).await;
    assert_eq!(status, 401);
    let (status, _) = send(reqwest::Client::new().get(&get).header("authorization", bearer(token(&secret, "root", later)))).await;
    assert_eq!(status, 401);
    // nbf and exp are checked with a small leeway (30 s by default), and exp is required.
    let now = chrono::Utc::now().timestamp();
    let signed = |claims: Value| {
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
        bearer(jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap())
    };
    for (claims, expected) in [
        (json!({"sub": "alice", "role": "viewer", "exp": now + 7200, "nbf": now + 3600}), 401),
        (json!({"sub": "alice", "role": "viewer", "exp": now + 7200, "nbf": "later"}), 401),
        (json!({"sub": "alice", "role": "viewer", "nbf": now - 60}), 401),
        (json!({"sub": "alice", "role": "viewer", "exp": now - 120}), 401),
        (json!({"sub": "alice", "role": "viewer", "exp": now + 600, "nbf": now + 5}), 200),
        (json!({"sub": "alice", "role": "viewer", "exp": now - 5}), 200),
    ] {
        let (status, body) = send(reqwest::Client::new().get(&get).header("authorization", signed(claims.clone()))).await;
        assert_eq!(status, expected, "{claims} → {body}");
    }

    // A key created over the API works until it is revoked over the API.
    let (status, created) = send(server.client().post(server.url("/api/v1/keys")).json(&json!({"name": "temp", "role": "viewer"}))).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap();
    let (status, _) = send(reqwest::Client::new().get(&get).header("x-api-key", key)).await;
    assert_eq!(status, 200);
    let (status, listed) = send(server.client().get(server.url("/api/v1/keys"))).await;
    assert_eq!(status, 200);
    assert!(!listed.to_string().contains(key.rsplit('_').next().unwrap()), "listing shows no secret");
    let (status, _) = send(server.client().delete(server.url(&format!("/api/v1/keys/{}", created["key_id"].as_str().unwrap())))).await;
    assert_eq!(status, 200);
    let (status, _) = send(reqwest::Client::new().get(&get).header("x-api-key", key)).await;
    assert_eq!(status, 401, "a revoked key is refused at once");
    let (status, body) = send(server.client().post(server.url("/api/v1/keys")).json(&json!({"name": "x", "role": "root"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("role")), "{body}");
    assert!(reagent::audit::verify(&server.db).await.unwrap().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_become_jobs_and_bad_uploads_name_the_field() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let editor = server.client_as(Role::PolicyEditor);
    let (status, job) = send(upload_request(&editor, &server, "upload-test-policy")).await;
    assert_eq!(status, 202, "{job}");
    let done = wait_for_job(&server, job["job_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["progress"]["total"].as_i64().unwrap() >= 1 && done["progress"]["done"] == done["progress"]["total"], "{done}");
    assert_eq!(done["result"]["files"][0]["document_id"], "upload-test-policy", "{done}");
    assert_eq!(done["result"]["files"][0]["path"], "upload-policy.md", "{done}");
    let versions = server.state.document_versions(Some("upload-test-policy".into())).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].meta.version, "2026-01-01");

    // A file the pipeline cannot read: the job fails with the reason.
    let (ct, body) = multipart(&[("broken.pdf", b"%PDF-1.4 not really")], &[]);
    let (status, job) = send(editor.post(server.url("/api/v1/documents")).header("content-type", ct).body(body)).await;
    assert_eq!(status, 202, "{job}");
    let failed = wait_for_job(&server, job["job_id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("failed"), "{failed}");
    assert!(failed["result"]["files"][0]["reason"].is_string(), "{failed}");

    // Bad forms: 4xx naming the field.
    let cases: Vec<(Vec<(&str, &[u8])>, Vec<(&str, &str)>, u16, &str)> = vec![
        (vec![], vec![("title", "x")], 422, "file"),
        (vec![("a.md", b"# A\n\ntext\n")], vec![("effective_from", "yesterday")], 422, "effective_from"),
        (vec![("a.md", b"# A\n\ntext\n")], vec![("type", "novel")], 422, "type"),
        (vec![("a.md", b"# A\n\ntext\n")], vec![("colour", "red")], 422, "colour"),
        (vec![("a.md", b"# A\n\ntext\n")], vec![("replace", "maybe")], 422, "replace"),
        (vec![(".env", b"x")], vec![], 422, "file"),
        (vec![("a.md", b"")], vec![], 422, "file"),
        (vec![("a.md", b"# A\n\nx\n"), ("a.md", b"# B\n\ny\n")], vec![], 422, "file"),
        (vec![("a.md", b"# A\n\nx\n")], vec![("effective_from", "2026-02-01"), ("effective_to", "2026-01-01")], 422, "effective_to"),
    ];
    for (files, fields, want, field) in cases {
        let (ct, body) = multipart(&files, &fields);
        let (status, body) = send(editor.post(server.url("/api/v1/documents")).header("content-type", ct).body(body)).await;
        assert_eq!((status, body["error"]["field"].as_str()), (want, Some(field)), "{fields:?} → {body}");
    }
    let (status, _) = send(editor.post(server.url("/api/v1/documents")).json(&json!({"file": "x"}))).await;
    assert_eq!(status, 415);
    let (status, _) = send(editor.get(server.url("/api/v1/jobs/not-a-uuid"))).await;
    assert_eq!(status, 400);
    let (status, _) = send(editor.get(server.url(&format!("/api/v1/jobs/{}", uuid::Uuid::new_v4())))).await;
    assert_eq!(status, 404);
    let (status, _) = send(upload_request(&server.client_as(Role::ComplianceOfficer), &server, "nope")).await;
    assert_eq!(status, 403);
    // Uploads and their outcome are in the audit trail.
    let trail = server.db.audit_page(0, 100_000).await.unwrap();
    assert!(trail.iter().any(|e| e.action == "document.upload" && e.actor_role == "policy_editor"));
    assert!(trail.iter().any(|e| e.action == "document.ingest" && e.outcome == "success" && e.details.contains("upload-test-policy")));
    assert!(trail.iter().any(|e| e.action == "document.ingest" && e.outcome == "failed"));
}
