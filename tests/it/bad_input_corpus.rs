//! A generated corpus of malformed requests against the real `reagent serve`: broken
//! JSON, wrong types, unknown fields, huge numbers, bad dates, wrong content types,
//! oversized bodies, random bytes, bad ids, wrong methods, bad credentials and bad
//! multipart uploads. Every one must get a 4xx with a JSON `{"error": {code, message}}`
//! body, none a 5xx, and the same process must still be serving at the end.
//! Uploads whose form is valid but whose files are garbage are accepted (202) and
//! their job must end with every file failed and a reason.

use crate::common;

use std::time::{Duration, Instant};

use common::multipart::encode as multipart;
use common::spawned;
use serde_json::{Value, json};

struct Case {
    name: String,
    method: &'static str,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
    /// Send no credentials (or these instead of the test key).
    auth: Auth,
    /// A well-formed upload of garbage files: 202 + failed job is also correct.
    garbage_upload: bool,
}

#[derive(Clone)]
enum Auth {
    Key,
    None,
    Header(&'static str, String),
}

fn case(
    name: impl Into<String>,
    method: &'static str,
    path: impl Into<String>,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        content_type: content_type.map(str::to_string),
        body: body.into(),
        auth: Auth::Key,
        garbage_upload: false,
    }
}

fn json_case(name: impl Into<String>, path: &str, body: &Value) -> Case {
    case(name, "POST", path, Some("application/json"), body.to_string())
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn valid() -> Value {
    spawned::analyze_body(0)
}

fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    target.as_object_mut().unwrap().insert(key.to_string(), value);
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    target.as_object_mut().unwrap().remove(key);
    v
}

fn corpus(seed: u64, body_limit: usize) -> Vec<Case> {
    let mut rng = Rng(seed | 1);
    let mut cases = Vec::new();
    let analyze = "/api/v1/analyze";
    let text = valid().to_string();

    // Broken JSON: the valid request cut at 60 places, and syntax damage.
    for i in 0..60 {
        let cut = 1 + (text.len() - 2) * i / 60;
        cases.push(case(
            format!("cut at {cut}"),
            "POST",
            analyze,
            Some("application/json"),
            &text.as_bytes()[..cut],
        ));
    }
    for (i, broken) in [
        "",
        "{",
        "}",
        "[]",
        "null",
        "42",
        "\"x\"",
        "{,}",
        "{\"transaction_id\"}",
        "{\"transaction_id\":}",
        "{'transaction_id': 'TXN003'}",
        "{\"transaction_id\": \"TXN003\",}",
        "{\"a\":1}{\"b\":2}",
        "\u{feff}{}",
        "{\"transaction_id\": \"TXN003\"} trailing",
        "{\"transaction_id\": \"\\uD800\"}",
        "NaN",
        "[{\"transaction\": 1}]",
        "{\"transaction_id\": \"TXN003\"",
        "\"\\",
        "{\"question\": \"\u{0}\"",
        "{\"transaction\": {\"amount\": 1e999}}",
    ]
    .iter()
    .enumerate()
    {
        cases.push(case(
            format!("syntax {i}: {broken:?}"),
            "POST",
            analyze,
            Some("application/json"),
            broken.as_bytes(),
        ));
        cases.push(case(
            format!("ask syntax {i}"),
            "POST",
            "/api/v1/ask",
            Some("application/json"),
            broken.as_bytes(),
        ));
    }

    // Wrong types at every field.
    let fields = [
        "/transaction_id",
        "/question",
        "/as_of",
        "/recent_transactions",
        "/transaction",
        "/customer",
        "/transaction/transaction_id",
        "/transaction/customer_id",
        "/transaction/amount",
        "/transaction/currency",
        "/transaction/transaction_type",
        "/transaction/direction",
        "/transaction/origin_country",
        "/transaction/destination_country",
        "/transaction/timestamp",
        "/customer/customer_id",
        "/customer/name",
        "/customer/customer_type",
        "/customer/risk_rating",
        "/customer/kyc_status",
        "/customer/is_pep",
        "/customer/country",
    ];
    let wrong = [
        json!(true),
        json!(12345),
        json!([1, 2]),
        json!({"x": 1}),
        json!("not-a-valid-value-\u{1F4A5}"),
    ];
    // Free text takes any string; optional fields may be left out.
    let free_text = [
        "/question",
        "/transaction/transaction_id",
        "/transaction/customer_id",
        "/customer/customer_id",
        "/customer/name",
    ];
    let optional = ["/transaction_id", "/question", "/as_of", "/recent_transactions"];
    for f in fields {
        for w in &wrong {
            let valid_value = (w.is_string() && free_text.contains(&f))
                || (w.is_number() && f == "/transaction/amount")
                || (w.is_boolean() && f == "/customer/is_pep");
            if valid_value {
                continue;
            }
            let body = set(valid(), f, w.clone());
            cases.push(json_case(format!("{f} = {w}"), analyze, &body));
        }
        if !optional.contains(&f) {
            cases.push(json_case(format!("without {f}"), analyze, &remove(valid(), f)));
        }
    }
    // Nulls where a value is required.
    for f in fields.iter().filter(|f| f.matches('/').count() == 2) {
        cases.push(json_case(format!("{f} = null"), analyze, &set(valid(), f, Value::Null)));
    }

    // Unknown fields at the top level, and inside the transaction and customer
    // objects (refused since issue 14: a misspelt counterparty_name must not
    // silently skip screening).
    for (i, f) in [
        "/extra",
        "/Transaction_ID",
        "/transactions",
        "/Customer",
        "/__proto__",
        "/as-of",
        "/recent_transaction",
        "/transaction/counterparty_nme",
        "/transaction/counterpartyName",
        "/transaction/beneficiary",
        "/customer/pep",
        "/customer/is_exempt",
    ]
    .iter()
    .enumerate()
    {
        cases.push(json_case(format!("unknown field {i} {f}"), analyze, &set(valid(), f, json!(1))));
    }

    // Huge, negative and odd numbers.
    for (i, n) in [
        "1e308",
        "-1e308",
        "1e999",
        "-0",
        "-1",
        "0",
        "123456789012345678901234567890",
        "1.7976931348623157e309",
        "-5000.5",
        "NaN",
        "Infinity",
        "0x10",
    ]
    .iter()
    .enumerate()
    {
        let body = text.replacen("15000.0", n, 1);
        cases.push(case(format!("amount {n} ({i})"), "POST", analyze, Some("application/json"), body));
    }

    // Bad dates and times.
    for (i, d) in [
        "2026-13-45T00:00:00Z",
        "2026-02-30T10:00:00Z",
        "yesterday",
        "",
        "2026-03-10",
        "10/03/2026",
        "2026-03-10T25:61:00Z",
        "0000-00-00T00:00:00Z",
        "99999-01-01T00:00:00Z",
        "2026-03-10T14:20:00+99:00",
        // Well-formed but outside 1970 .. five years ahead (issue 17 §6).
        "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        cases.push(json_case(
            format!("timestamp {d:?} ({i})"),
            analyze,
            &set(valid(), "/transaction/timestamp", json!(d)),
        ));
    }
    // Three uppercase letters that are no active ISO 4217 code (issue 17 §6).
    for (i, c) in ["ZZZ", "XXX", "XTS", "HRK", "usd"].iter().enumerate() {
        cases.push(json_case(
            format!("currency {c:?} ({i})"),
            analyze,
            &set(valid(), "/transaction/currency", json!(c)),
        ));
    }
    for (i, d) in ["2026-13-01", "not a date", "", "2026/01/01", "1e5"].iter().enumerate() {
        cases.push(json_case(
            format!("ask as_of {d:?} ({i})"),
            "/api/v1/ask",
            &json!({"question": "what applies?", "as_of": d}),
        ));
    }
    cases.push(json_case("as_of on analyze", analyze, &set(valid(), "/as_of", json!("2026-01-01"))));

    // Semantic errors.
    cases.push(json_case("empty object", analyze, &json!({})));
    cases.push(json_case(
        "id and inline",
        analyze,
        &set(valid(), "/transaction_id", json!("TXN003")),
    ));
    cases.push(json_case("inline without customer", analyze, &remove(valid(), "/customer")));
    cases.push(json_case(
        "unknown transaction id",
        analyze,
        &json!({"transaction_id": "NO-SUCH-TXN"}),
    ));
    cases.push(json_case("empty transaction id", analyze, &json!({"transaction_id": ""})));
    cases.push(json_case("ask nothing", "/api/v1/ask", &json!({})));
    cases.push(json_case(
        "ask unknown transaction",
        "/api/v1/ask",
        &json!({"transaction_id": "NO-SUCH-TXN", "question": "x"}),
    ));
    let mut many = Vec::new();
    for i in 0..3 {
        many.push(valid()["transaction"].clone());
        many[i]["amount"] = json!("lots");
    }
    cases.push(json_case(
        "bad recent transaction",
        analyze,
        &set(valid(), "/recent_transactions", Value::Array(many)),
    ));

    // Wrong content types.
    for (i, ct) in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/json"),
        Some("image/png"),
        Some(""),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(case(format!("content type {ct:?} ({i})"), "POST", analyze, ct, text.clone()));
        cases.push(case(
            format!("ask content type {ct:?} ({i})"),
            "POST",
            "/api/v1/ask",
            ct,
            text.clone(),
        ));
    }

    // Oversized bodies: valid JSON padded past the limit, and a huge string.
    let pad = "x".repeat(body_limit + 10);
    cases.push(json_case("oversized question", analyze, &set(valid(), "/question", json!(pad))));
    cases.push(case(
        "oversized garbage",
        "POST",
        analyze,
        Some("application/json"),
        vec![b'['; body_limit * 2],
    ));
    cases.push(json_case("oversized ask", "/api/v1/ask", &json!({"question": pad})));

    // Random bytes as JSON bodies.
    for i in 0..60 {
        let n = 1 + (rng.next() % 3000) as usize;
        cases.push(case(
            format!("random bytes {i} ({n})"),
            "POST",
            analyze,
            Some("application/json"),
            rng.bytes(n),
        ));
    }

    // Bad ids, routes and methods.
    for (i, id) in [
        "not-a-uuid",
        "1",
        "%00",
        "00000000-0000-0000-0000-00000000000g",
        "..%2F..%2Fetc%2Fpasswd",
        &"a".repeat(2000),
        "%E2%82%AC",
        "'%20OR%201=1--",
    ]
    .iter()
    .enumerate()
    {
        for route in [
            "/api/v1/analyses/",
            "/api/v1/chunks/",
            "/api/v1/jobs/",
            "/api/v1/analyses/{}/decisions",
        ] {
            let path = if route.contains("{}") {
                route.replace("{}", id)
            } else {
                format!("{route}{id}")
            };
            cases.push(case(format!("bad id {i} at {route}"), "GET", path, None, Vec::new()));
        }
    }
    let random_uuid = "3b241101-e2bb-4255-8caf-4136c566a962";
    for path in [
        format!("/api/v1/analyses/{random_uuid}"),
        format!("/api/v1/chunks/{random_uuid}"),
        "/api/v2/analyze".into(),
        "/api/v1/nope".into(),
        "/api/v1/analyze/extra".into(),
        "/api".into(),
    ] {
        cases.push(case(format!("missing {path}"), "GET", path, None, Vec::new()));
    }
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        cases.push(case(
            format!("{method} analyze"),
            method,
            analyze,
            Some("application/json"),
            text.clone(),
        ));
        cases.push(case(
            format!("{method} ask"),
            method,
            "/api/v1/ask",
            Some("application/json"),
            text.clone(),
        ));
    }
    cases.push(case(
        "POST analyses",
        "POST",
        format!("/api/v1/analyses/{random_uuid}"),
        Some("application/json"),
        text.clone(),
    ));

    // Decisions with bad bodies.
    for (i, body) in [
        json!({}),
        json!({"decision": 1}),
        json!({"decision": "maybe"}),
        json!([]),
        json!({"decision": "approve", "extra": true}),
    ]
    .iter()
    .enumerate()
    {
        cases.push(json_case(
            format!("decision {i}"),
            &format!("/api/v1/analyses/{random_uuid}/decision"),
            body,
        ));
        cases.push(json_case(
            format!("decision bad id {i}"),
            "/api/v1/analyses/not-a-uuid/decision",
            body,
        ));
    }

    // Credentials.
    for (i, (header, value)) in [
        ("authorization", "Bearer rk_000000000000_0000".to_string()),
        ("authorization", "Bearer ".to_string()),
        ("authorization", "Basic dXNlcjpwYXNz".to_string()),
        ("authorization", "Bearer not.a.jwt".to_string()),
        ("authorization", format!("Bearer rk_{}", "f".repeat(500))),
        ("x-api-key", "rk_zzzzzzzzzzzz_zz".to_string()),
        ("x-api-key", "".to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = json_case(format!("credential {i} {header}"), analyze, &valid());
        c.auth = Auth::Header(header, value);
        cases.push(c);
    }

    for (i, (method, path)) in [
        ("POST", analyze),
        ("GET", "/api/v1/audit"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/documents"),
        ("GET", "/api/v1/keys"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = case(
            format!("no credentials {i} {path}"),
            method,
            path,
            Some("application/json"),
            text.clone(),
        );
        c.auth = Auth::None;
        cases.push(c);
    }

    // Uploads: broken forms (4xx) and well-formed forms carrying garbage (202, job fails).
    let docs = "/api/v1/documents";
    let b = "XyZzY";
    let ct = format!("multipart/form-data; boundary={b}");
    let mut forms: Vec<(String, Option<String>, Vec<u8>)> = vec![
        ("no parts".into(), Some(ct.clone()), format!("--{b}--\r\n").into_bytes()),
        ("not multipart".into(), Some("application/json".into()), b"{}".to_vec()),
        ("no content type".into(), None, b"abc".to_vec()),
        (
            "no boundary".into(),
            Some("multipart/form-data".into()),
            multipart(b, &[("file", Some("a.md"), b"# A\n\ntext")]),
        ),
        (
            "wrong boundary".into(),
            Some("multipart/form-data; boundary=other".into()),
            multipart(b, &[("file", Some("a.md"), b"# A\n\ntext")]),
        ),
        (
            "truncated form".into(),
            Some(ct.clone()),
            multipart(b, &[("file", Some("a.md"), b"# A\n\ntext")])[..40].to_vec(),
        ),
        ("empty file".into(), Some(ct.clone()), multipart(b, &[("file", Some("a.md"), b"")])),
        (
            "hidden name".into(),
            Some(ct.clone()),
            multipart(b, &[("file", Some(".env"), b"x=1")]),
        ),
        (
            "twice".into(),
            Some(ct.clone()),
            multipart(b, &[("file", Some("a.md"), b"# A"), ("file", Some("a.md"), b"# A")]),
        ),
        (
            "bad type".into(),
            Some(ct.clone()),
            multipart(b, &[("type", None, b"novel"), ("file", Some("a.md"), b"# A")]),
        ),
        (
            "bad date".into(),
            Some(ct.clone()),
            multipart(b, &[("effective_from", None, b"2026-02-30"), ("file", Some("a.md"), b"# A")]),
        ),
        (
            "bad replace".into(),
            Some(ct.clone()),
            multipart(b, &[("replace", None, b"perhaps"), ("file", Some("a.md"), b"# A")]),
        ),
        (
            "unknown field".into(),
            Some(ct.clone()),
            multipart(b, &[("colour", None, b"blue"), ("file", Some("a.md"), b"# A")]),
        ),
        ("no file".into(), Some(ct.clone()), multipart(b, &[("title", None, b"T")])),
        (
            "oversized".into(),
            Some(ct.clone()),
            multipart(b, &[("file", Some("big.md"), &vec![b'a'; 64 * 1024 * 1024])]),
        ),
    ];
    for i in 0..20 {
        let n = 1 + (rng.next() % 4000) as usize;
        let raw = rng.bytes(n);
        let mut bad = raw.clone();
        bad.truncate(n / 2);
        forms.push((format!("garbage multipart {i}"), Some(ct.clone()), raw));
        forms.push((
            format!("garbage after boundary {i}"),
            Some(ct.clone()),
            [format!("--{b}\r\n").into_bytes(), bad].concat(),
        ));
    }
    for (name, ct, body) in forms {
        let mut c = case(format!("upload: {name}"), "POST", docs, None, body);
        c.content_type = ct;
        cases.push(c);
    }
    let exts = ["md", "txt", "pdf", "json", "markdown", "exe", "docx"];
    for i in 0..21 {
        let ext = exts[i % exts.len()];
        let n = 1 + (rng.next() % 5000) as usize;
        let mut content = rng.bytes(n);
        if ext == "pdf" && i % 2 == 0 {
            content.splice(0..0, b"%PDF-1.4\n".iter().copied());
        }
        if content.iter().all(u8::is_ascii_whitespace) {
            content.push(0);
        }
        let mut c = case(
            format!("upload random bytes as .{ext} ({i})"),
            "POST",
            docs,
            Some(&ct),
            multipart(b, &[("file", Some(&format!("random-{i}.{ext}")), &content)]),
        );
        c.garbage_upload = true;
        cases.push(c);
    }
    cases
}

async fn send(client: &reqwest::Client, bare: &reqwest::Client, base: &str, c: &Case) -> (u16, String) {
    let client = if matches!(c.auth, Auth::Key) { client } else { bare };
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
    let mut req = client.request(method, format!("{base}{}", c.path));
    if let Some(ct) = &c.content_type {
        req = req.header("content-type", ct);
    }
    if let Auth::Header(name, value) = &c.auth {
        req = req.header(*name, value);
    }
    if !c.body.is_empty() {
        req = req.body(c.body.clone());
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.text().await.unwrap_or_else(|e| format!("<body unreadable: {e}>")))
        }
        // The server may answer 413 and close before reading a huge body; the client then sees a reset.
        Err(e) => (0, format!("transport error: {e}")),
    }
}

fn is_json_error(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .ok()
        .is_some_and(|v| v["error"]["code"].as_str().is_some_and(|c| !c.is_empty()) && v["error"]["message"].is_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_a_json_4xx_and_the_server_survives() {
    let dir = tempfile::tempdir().unwrap();
    spawned::prepare(dir.path());
    let key = spawned::api_key(dir.path(), "admin");
    let mut server = spawned::serve(dir.path(), &[("REAGENT_LIMITS_REQUESTS_PER_SECOND", "0")]);
    let pid = server.pid();
    let client = spawned::client_with(Some(&key));
    let bare = spawned::client_with(None);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("corpus seed: {seed}");
    let body_limit = reagent::api::ServerSettings::default().body_limit_bytes;
    let cases = corpus(seed, body_limit);
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let base = format!("http://{}", server.addr);

    let mut failures = Vec::new();
    let mut jobs = Vec::new();
    let mut by_status = std::collections::BTreeMap::new();
    for c in &cases {
        let (status, body) = send(&client, &bare, &base, c).await;
        *by_status.entry(status).or_insert(0) += 1;
        if c.garbage_upload && status == 202 {
            match serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["job_id"].as_str().map(str::to_string))
            {
                Some(id) => jobs.push((c.name.clone(), id)),
                None => failures.push(format!("{}: 202 without a job id: {body}", c.name)),
            }
            continue;
        }
        let too_large_reset = status == 0 && c.name.contains("oversized");
        if too_large_reset {
            continue;
        }
        if !(400..500).contains(&status) || !is_json_error(&body) {
            failures.push(format!(
                "{} ({} {}): {status} {}",
                c.name,
                c.method,
                c.path,
                body.chars().take(300).collect::<String>()
            ));
        }
    }
    eprintln!("{} cases, statuses {by_status:?}", cases.len());

    // Accepted garbage uploads: each job ends with its file failed, and a reason.
    for (name, id) in &jobs {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = send(
                &client,
                &bare,
                &base,
                &case("job", "GET", format!("/api/v1/jobs/{id}"), None, Vec::new()),
            )
            .await;
            let job: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let state = job["status"].as_str().unwrap_or("");
            if status == 200 && !["queued", "running"].contains(&state) {
                let text = job.to_string();
                if state == "succeeded" && !text.contains("failed") {
                    failures.push(format!("{name}: garbage was ingested: {text}"));
                }
                break;
            }
            if status != 200 || Instant::now() > deadline {
                failures.push(format!("{name}: job {id}: {status} {body}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    assert!(server.alive(), "the server died:\n{}", server.log_text());
    assert_eq!(server.pid(), pid);
    let (status, _) = send(&client, &bare, &base, &case("health", "GET", "/health", None, Vec::new())).await;
    assert_eq!(status, 200, "the server still answers");
    let log = server.log_text();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
