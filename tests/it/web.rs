//! The web interface over HTTP: sign-in cookies, CSRF protection, what each role sees,
//! and the pages an officer walks through (the browser tests in e2e/ drive the same
//! pages in Chromium).

use crate::common;

use common::server::{self, TestServer};
use common::spawned;
use reagent::auth::Role;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `value` of the first hidden `csrf` input in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("the page has a csrf field");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// `name=value` of cookie `name` among a response's Set-Cookie headers, and the whole header.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<(String, String)> {
    res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with(&format!("{name}="))).map(|v| {
        let pair = v.split(';').next().unwrap().to_string();
        (pair, v.to_string())
    })
}

/// A signed-in browser: its session cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(server: &TestServer, key: &str) -> Browser {
    sign_in_to(server, key, "/transactions").await
}

/// Sign in and land on `home`, whose page gives the CSRF token.
async fn sign_in_to(server: &TestServer, key: &str, home: &str) -> Browser {
    sign_in_at(&|path| server.url(path), key, home).await.0
}

/// [`sign_in_to`] the server whose URLs `url` makes; also the session's Set-Cookie header.
async fn sign_in_at(url: &dyn Fn(&str) -> String, key: &str, home: &str) -> (Browser, String) {
    let c = client();
    let form = c.get(url("/sign-in")).send().await.unwrap();
    let (signin_cookie, _) = set_cookie(&form, "reagent_signin").expect("the sign-in form sets its cookie");
    let token = csrf_of(&form.text().await.unwrap());
    let res = c
        .post(url("/sign-in"))
        .header("cookie", &signin_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&api_key={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "sign-in redirects");
    assert_eq!(res.headers()["location"], home, "each role lands on its home page");
    let (cookie, header) = set_cookie(&res, "reagent_session").expect("a session cookie");
    let page = c.get(url(home)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());
    (Browser { cookie, csrf }, header)
}

async fn get(server: &TestServer, b: &Browser, path: &str) -> (u16, String) {
    let res = client().get(server.url(path)).header("cookie", &b.cookie).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn post_form(server: &TestServer, b: &Browser, path: &str, body: String) -> reqwest::Response {
    client()
        .post(server.url(path))
        .header("cookie", &b.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csrf_and_roles() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let c = client();

    // Signed out: pages send you to sign in, remembering where you were going.
    let res = c.get(server.url("/transactions?q=TXN003")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/sign-in?next=/transactions%3Fq%3DTXN003");

    // The sign-in form's own token is paired with an HttpOnly, SameSite=Strict cookie.
    let form = c.get(server.url("/sign-in")).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 200);
    let csp = form.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let (signin_cookie, header) = set_cookie(&form, "reagent_signin").unwrap();
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"), "{header}");
    let token = csrf_of(&form.text().await.unwrap());

    // A wrong key: 401 and the message next to the field, no session.
    let res = c
        .post(server.url("/sign-in"))
        .header("cookie", &signin_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&api_key=rk_000000000000_{}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(set_cookie(&res, "reagent_session").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="api_key-error""#) && html.contains("not valid"), "{html}");

    // The sign-in form without its token (login CSRF) is refused.
    let officer_key = server.key(Role::ComplianceOfficer).to_string();
    let res = c
        .post(server.url("/sign-in"))
        .header("cookie", &signin_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={officer_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);

    // A good key: a session cookie, HttpOnly and SameSite=Strict.
    let form = c.get(server.url("/sign-in")).send().await.unwrap();
    let (signin_cookie, _) = set_cookie(&form, "reagent_signin").unwrap();
    let token = csrf_of(&form.text().await.unwrap());
    let res = c
        .post(server.url("/sign-in"))
        .header("cookie", &signin_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&api_key={officer_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (_, header) = set_cookie(&res, "reagent_session").unwrap();
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict") && header.contains("Path=/"), "{header}");

    let officer = sign_in(&server, &officer_key).await;
    let (status, html) = get(&server, &officer, "/transactions?q=TXN003").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-transaction="TXN003""#) && html.contains("85,000.00 USD"), "{html}");
    assert!(!html.contains(r#"data-transaction="TXN001""#), "the search filters");

    // CSRF: a state-changing form without the token, or with another one, is refused.
    let res = post_form(&server, &officer, "/transactions/TXN003/analyze", String::new()).await;
    assert_eq!(res.status().as_u16(), 403);
    let res = post_form(&server, &officer, "/transactions/TXN003/analyze", format!("csrf={}", "a".repeat(64))).await;
    assert_eq!(res.status().as_u16(), 403);
    let res = post_form(&server, &officer, "/transactions/TXN003/analyze", format!("csrf={}", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/analyses/"), "{location}");

    // The officer's analysis page: verdict, citations linking to chunks, decision buttons.
    let (status, html) = get(&server, &officer, &location).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-testid="risk-level""#) && html.contains("High risk"), "TXN003 is high risk");
    assert!(html.contains(r#"data-testid="review-banner""#));
    assert!(html.contains(r#"data-testid="decision-form""#));
    for value in ["approve", "escalate", "file_sar", "reject"] {
        assert!(html.contains(&format!(r#"name="decision" value="{value}""#)), "button {value}");
    }
    let at = html.find("href=\"/chunks/").expect("a citation links to its chunk");
    let chunk_path = &html[at + 6..at + 6 + "/chunks/".len() + 36];
    let (status, chunk) = get(&server, &officer, chunk_path).await;
    assert_eq!(status, 200, "{chunk_path}");
    assert!(chunk.contains(r#"data-testid="chunk-text""#) && chunk.contains(r#"data-testid="chunk-version""#));
    let (status, fragment) = get(&server, &officer, &format!("{chunk_path}?fragment=true")).await;
    assert_eq!(status, 200);
    assert!(!fragment.contains("<html") && fragment.contains(r#"data-testid="chunk-text""#), "the htmx fragment is just the panel");

    // A viewer reads the same page without decision buttons, and cannot post one.
    let viewer = sign_in(&server, server.key(Role::Viewer)).await;
    let (status, html) = get(&server, &viewer, &location).await;
    assert_eq!(status, 200);
    assert!(html.contains("High risk"));
    assert!(!html.contains(r#"data-testid="decision-form""#) && !html.contains(r#"name="decision""#), "no decision buttons for a viewer");
    assert!(html.contains(r#"data-testid="no-decision""#));
    assert!(!html.contains("/ask\""), "a viewer cannot ask questions");
    let res = post_form(&server, &viewer, &format!("{location}/decision"), format!("csrf={}&decision=approve&comment=x", viewer.csrf)).await;
    assert_eq!(res.status().as_u16(), 403);
    let res = post_form(&server, &viewer, "/transactions/TXN003/analyze", format!("csrf={}", viewer.csrf)).await;
    assert_eq!(res.status().as_u16(), 403, "a viewer cannot run analyses");

    // Decisions: a comment is required; the decision lands in the audit timeline and
    // the list's review status; a second one must say it overrides the first.
    let decision_path = format!("{location}/decision");
    let decide = |body: String| post_form(&server, &officer, &decision_path, body);
    let res = decide(format!("csrf={}&decision=escalate&comment=", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res.text().await.unwrap().contains(r#"id="decision-error""#));
    let res = decide(format!("csrf={}&decision=escalate&comment=PEP+wire+to+Myanmar", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    let (_, html) = get(&server, &officer, &location).await;
    let timeline = &html[html.find(r#"data-testid="timeline""#).unwrap()..];
    assert!(timeline.contains("decision.create (escalate)") && timeline.contains("PEP wire to Myanmar"), "{timeline}");
    assert!(timeline.contains("analysis.create"), "the web analysis was audited");
    assert!(html.contains(r#"name="override""#), "a decided analysis offers the override box");
    let res = decide(format!("csrf={}&decision=approve&comment=cleared", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 422, "a second decision without override is refused");
    assert!(res.text().await.unwrap().contains("already has a decision"));
    let res = decide(format!("csrf={}&decision=file_sar&comment=more+facts&override=true", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    let (_, list) = get(&server, &officer, "/transactions?q=TXN003").await;
    assert!(list.contains("SAR to be filed by"), "the list shows the decision in force");

    // A policy editor uploads documents but does not read transactions.
    let editor = sign_in_to(&server, server.key(Role::PolicyEditor), "/documents").await;
    let (status, _) = get(&server, &editor, "/transactions").await;
    assert_eq!(status, 403);
    let (status, html) = get(&server, &editor, "/documents").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-testid="upload-form""#));
    let (_, html) = get(&server, &officer, "/documents").await;
    assert!(!html.contains(r#"data-testid="upload-form""#), "officers do not upload");

    // Uploads are multipart: the token travels in the action's query (or a header).
    let boundary = "----reagent-web-test";
    let doc = std::fs::read_to_string(common::repo().join("corpus/edd-procedure.md")).unwrap();
    let doc = doc.replace("version: \"2026-01-01\"", "version: \"2026-09-01\"").replace("effective_from: 2026-01-01", "effective_from: 2026-09-01");
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"edd-procedure.md\"\r\nContent-Type: text/markdown\r\n\r\n{doc}\r\n--{boundary}--\r\n"
    );
    let upload = |query: String| {
        client()
            .post(server.url(&format!("/documents/upload{query}")))
            .header("cookie", &editor.cookie)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body.clone())
            .send()
    };
    assert_eq!(upload(String::new()).await.unwrap().status().as_u16(), 403, "no token");
    assert_eq!(upload(format!("?csrf={}", officer.csrf)).await.unwrap().status().as_u16(), 403, "another session's token");
    let res = upload(format!("?csrf={}", editor.csrf)).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let mut listed = false;
    for _ in 0..120 {
        let (_, html) = get(&server, &editor, "/documents").await;
        assert!(!html.contains(">failed<"), "the ingestion job failed: {html}");
        if html.contains(r#"data-version="2026-09-01""#) && html.contains(">succeeded<") {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(listed, "the uploaded version is listed with its finished job");

    // A revoked key's sessions end at the next request.
    let doomed = sign_in(&server, server.key(Role::Analyst)).await;
    let key_id = server.key(Role::Analyst).split('_').nth(1).unwrap().to_string();
    let admin = server.state.authenticate(server.key(Role::Admin)).await.unwrap();
    server.state.revoke_key(&admin, None, key_id).await.unwrap();
    let res = c.get(server.url("/transactions")).header("cookie", &doomed.cookie).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);

    // The ad-hoc form: a bad field is named next to it, a good one analyses.
    let bad = format!(
        "csrf={}&customer_id=CUST003&amount=lots&currency=USD&transaction_type=WIRE&direction=OUTBOUND&origin_country=US&destination_country=MM&timestamp=2026-03-04T14%3A10",
        officer.csrf
    );
    let res = post_form(&server, &officer, "/analyze", bad).await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="amount-error""#) && html.contains("as a number"), "{html}");
    let bad_country = format!(
        "csrf={}&customer_id=CUST003&amount=85000&currency=USD&transaction_type=WIRE&direction=OUTBOUND&origin_country=US&destination_country=ZZ&timestamp=2026-03-04T14%3A10",
        officer.csrf
    );
    let html = post_form(&server, &officer, "/analyze", bad_country).await.text().await.unwrap();
    assert!(html.contains(r#"id="destination_country-error""#), "{html}");
    let good = format!(
        "csrf={}&customer_id=CUST003&amount=85000&currency=USD&transaction_type=WIRE&direction=OUTBOUND&origin_country=US&destination_country=MM&timestamp=2026-03-04T14%3A10",
        officer.csrf
    );
    let res = post_form(&server, &officer, "/analyze", good).await;
    assert_eq!(res.status().as_u16(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/analyses/"));

    // Unknown analysis: a readable 404 page, not a panic or JSON.
    let (status, html) = get(&server, &officer, "/analyses/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(status, 404);
    assert!(html.contains("There is no analysis"));
    let (status, _) = get(&server, &officer, "/analyses/not-a-uuid").await;
    assert_eq!(status, 400);

    // Documents and evaluation render; static files are served from the binary.
    let (status, html) = get(&server, &officer, "/documents").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-document="hfb-wire-transfer-manual""#), "corpus documents are listed");
    let (status, _) = get(&server, &officer, "/evaluation").await;
    assert_eq!(status, 200);
    let res = c.get(server.url("/static/htmx.min.js")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(res.text().await.unwrap().contains("htmx"));

    // Signing out ends the session on the server.
    let res = post_form(&server, &officer, "/sign-out", format!("csrf={}", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    let res = c.get(server.url("/transactions")).header("cookie", &officer.cookie).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "the old cookie no longer works");
}

/// Issue 17 §3: `/sign-in?next=%2F%09%2Fhost` sent a signed-in user to another host
/// (browsers drop the tab), and a newline in `next` gave a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_after_sign_in_is_a_path_on_this_site() {
    let server = server::start_with(common::Embedding::Hashing, &[], |_| {}).await;
    let officer_key = server.key(Role::ComplianceOfficer).to_string();
    let officer = sign_in(&server, &officer_key).await;
    let c = client();
    let hostile = [
        "%2F%09%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "%2F%0D%0ALocation:%20https://evil.example",
        "//evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "%5C%5Cevil.example",
        "https://evil.example/",
        "/%252F%252Fevil.example",
        "/%2509/evil.example",
        "javascript:alert(1)",
    ];
    for next in hostile {
        // Signed in: the form redirects at once, so this is where the redirect happened.
        let res = c.get(server.url(&format!("/sign-in?next={next}"))).header("cookie", &officer.cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400, "next={next}: {:?}", res.headers().get("location"));
        assert!(res.headers().get("location").is_none());
        // Signed out: the form is not even shown with it.
        let res = c.get(server.url(&format!("/sign-in?next={next}"))).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400, "next={next}, signed out");
    }
    // Posting the form with a hostile next (a forged page) creates no session.
    let form = c.get(server.url("/sign-in")).send().await.unwrap();
    let (signin_cookie, _) = set_cookie(&form, "reagent_signin").unwrap();
    let token = csrf_of(&form.text().await.unwrap());
    let post = |next: &'static str| {
        c.post(server.url("/sign-in"))
            .header("cookie", &signin_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={token}&api_key={officer_key}&next={next}"))
            .send()
    };
    let res = post("%2F%09%2Fevil.example").await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(set_cookie(&res, "reagent_session").is_none());
    // A path on this site is where the user lands, signed in or signing in.
    let res = post("%2Fdocuments%3Fq%3Dx").await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/documents?q=x"));
    let res = c.get(server.url("/sign-in?next=/transactions%3Fq%3DTXN003")).header("cookie", &officer.cookie).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/transactions?q=TXN003"));
}

/// The `value` of the first input named `name` in `html`.
fn input_value(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = html.find(&marker).unwrap_or_else(|| panic!("no input {name}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Issue 16: an officer judges a cited chunk from the analysis page; the judgement is
/// stored (the API lists it), shown back on the page, and refused for other roles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_judge_citations_on_the_analysis_page() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let officer = sign_in(&server, server.key(Role::ComplianceOfficer)).await;
    let res = post_form(&server, &officer, "/transactions/TXN003/analyze", format!("csrf={}", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let (status, html) = get(&server, &officer, &location).await;
    assert_eq!(status, 200);
    let controls = &html[html.find(r#"data-testid="citation-feedback""#).expect("feedback controls beside the citations")..];
    assert!(!html.contains(r#"data-testid="feedback-mark""#), "nothing judged yet");
    let (action, chunk) = (input_value(controls, "action"), input_value(controls, "chunk_id"));
    let path = format!("{location}/feedback");

    // Without the session's token the form is refused.
    let res = post_form(&server, &officer, &path, format!("action={action}&chunk_id={chunk}&verdict=supports")).await;
    assert_eq!(res.status().as_u16(), 403);
    // A better chunk that is not a chunk id is named.
    let res = post_form(&server, &officer, &path, format!("csrf={}&action={action}&chunk_id={chunk}&verdict=does_not_support&better_chunk_id=chapter-3", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res.text().await.unwrap().contains("better_chunk_id"));

    let res = post_form(&server, &officer, &path, format!("csrf={}&action={action}&chunk_id={chunk}&verdict=supports&better_chunk_id=", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with(&location));
    let (_, html) = get(&server, &officer, &location).await;
    assert!(html.contains(r#"data-testid="feedback-mark" data-verdict="supports""#), "the page shows the officer's judgement");
    let id = location.trim_start_matches("/analyses/");
    let (_, stored) = common::send(server.client_as(Role::Viewer).get(server.url(&format!("/api/v1/analyses/{id}/feedback")))).await;
    assert_eq!(stored.as_array().map(Vec::len), Some(1), "{stored}");
    assert_eq!((stored[0]["action"].as_str(), stored[0]["chunk_id"].as_str()), (Some(action.as_str()), Some(chunk.as_str())));
    assert_eq!((stored[0]["verdict"].as_str(), stored[0]["judged_by_name"].as_str()), (Some("supports"), Some("test compliance_officer")));
    let (_, html) = get(&server, &officer, &location).await;
    let timeline = &html[html.find(r#"data-testid="timeline""#).unwrap()..];
    assert!(timeline.contains("feedback.record"), "the judgement is in the audit timeline");

    // A viewer sees no controls and cannot post a judgement.
    let viewer = sign_in(&server, server.key(Role::Viewer)).await;
    let (_, html) = get(&server, &viewer, &location).await;
    assert!(!html.contains(r#"data-testid="citation-feedback""#));
    let res = post_form(&server, &viewer, &path, format!("csrf={}&action={action}&chunk_id={chunk}&verdict=supports", viewer.csrf)).await;
    assert_eq!(res.status().as_u16(), 403);
}

/// Issue 15: the queue page (filters, days left, assign to me with CSRF), the
/// case view (narrative kept with a decision, print page, JSON export) and the
/// analysis page showing each finding once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_case_view_and_findings_shown_once() {
    let server = server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    let officer = sign_in(&server, server.key(Role::ComplianceOfficer)).await;
    for id in ["TXN003", "TXN007", "TXN001"] {
        let res = post_form(&server, &officer, &format!("/transactions/{id}/analyze"), format!("csrf={}", officer.csrf)).await;
        assert_eq!(res.status().as_u16(), 303, "{id}");
    }
    // The queue: TXN003 (EDD from 2026-03-04, 10 business days: 03-18) before
    // TXN007 (SAR, detected 2026-03-03, due 04-02), both overdue today; TXN001
    // needs no review.
    let (status, html) = get(&server, &officer, "/queue").await;
    assert_eq!(status, 200);
    let (a, b) = (html.find(r#"data-transaction="TXN003""#).expect("TXN003 queued"), html.find(r#"data-transaction="TXN007""#).expect("TXN007 queued"));
    assert!(a < b, "earliest due first");
    assert!(!html.contains(r#"data-transaction="TXN001""#));
    assert!(html.contains(r#"data-testid="overdue""#) && html.contains("overdue by"), "past due dates are marked");
    let (_, filtered) = get(&server, &officer, "/queue?action=SAR_REVIEW&risk=&assignee=&from=&to=").await;
    assert!(filtered.contains(r#"data-transaction="TXN007""#) && !filtered.contains(r#"data-transaction="TXN003""#));
    let analysis_id = html[b - 38..b - 2].to_string();
    // Assign to me needs the CSRF token; then the row shows me.
    let path = format!("/queue/{analysis_id}/assign");
    assert_eq!(post_form(&server, &officer, &path, "assignee=me".into()).await.status().as_u16(), 403);
    let res = post_form(&server, &officer, &path, format!("csrf={}&assignee=me&back=/queue%3Fassignee%3Dme", officer.csrf)).await;
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/queue?assignee=me"));
    let (_, mine) = get(&server, &officer, "/queue?assignee=me").await;
    assert!(mine.contains(&format!(r#"data-analysis="{analysis_id}""#)) && mine.contains("test compliance_officer"), "{mine}");
    // A viewer has no queue.
    let viewer = sign_in(&server, server.key(Role::Viewer)).await;
    assert_eq!(get(&server, &viewer, "/queue").await.0, 403);
    assert_eq!(get(&server, &viewer, &format!("/cases/{analysis_id}")).await.0, 403);

    // The case view of TXN007: the pattern's deposits, the narrative, exports.
    let (status, case) = get(&server, &officer, &format!("/cases/{analysis_id}")).await;
    assert_eq!(status, 200);
    for id in ["TXN004", "TXN005", "TXN006", "TXN007"] {
        assert!(case.contains(&format!(r#"data-transaction="{id}" class="in-pattern""#)), "{id} in the pattern");
    }
    assert!(case.contains(r#"data-testid="narrative-sections""#) && case.contains("[chunk "), "the draft cites chunks");
    let (status, print) = get(&server, &officer, &format!("/cases/{analysis_id}/print")).await;
    assert_eq!(status, 200);
    assert!(print.contains("SAR narrative (draft)") && !print.contains("<nav"), "printable page");
    let (status, json) = get(&server, &officer, &format!("/cases/{analysis_id}/case.json")).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["transaction_id"], "TXN007");
    // Deciding with an edited narrative keeps it, and the item leaves the queue.
    let res = post_form(&server, &officer, &format!("/cases/{analysis_id}/decision"),
        format!("csrf={}&decision=file_sar&comment=structuring&narrative=Who%3A+Marcus+Webb+edited", officer.csrf)).await;
    assert_eq!(res.status().as_u16(), 303);
    let (_, case) = get(&server, &officer, &format!("/cases/{analysis_id}")).await;
    assert!(case.contains("Who: Marcus Webb edited"), "the kept narrative is shown");
    let (_, html) = get(&server, &officer, "/queue").await;
    assert!(!html.contains(&format!(r#"data-analysis="{analysis_id}""#)), "decided: out of the queue");

    // The analysis page of TXN003: each action once, its issue and recommendation folded in.
    let res = post_form(&server, &officer, "/transactions/TXN003/analyze", format!("csrf={}", officer.csrf)).await;
    let (_, page) = get(&server, &officer, res.headers()["location"].to_str().unwrap()).await;
    for code in ["ENHANCED_DUE_DILIGENCE", "TRAVEL_RULE_RECORDS"] {
        assert_eq!(page.matches(&format!(r#"data-action="{code}""#)).count(), 1, "{code}");
    }
    assert_eq!(page.matches("<h3>Apply enhanced due diligence (EDD)").count(), 1, "the title is not repeated as an issue");
    assert_eq!(page.matches("Recommended step:").count(), 2, "each action's recommendation is folded into it");
    assert!(page.contains(r#"data-testid="days-left""#));
}

/// Issue 12: sessions live in the database, not in a process. A restarted server over
/// the same database still knows the browser (same CSRF token), a second server beside
/// it serves the same session, and signing out on one ends it on every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_any_server_serves_them() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let key = spawned::api_key(dir.path(), "compliance_officer");
    let minutes = [("REAGENT_WEB_SESSION_MINUTES", "90")];
    let first = spawned::serve(dir.path(), &minutes);
    let (officer, header) = sign_in_at(&|path| first.url(path), &key, "/transactions").await;
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict") && header.contains("Path=/") && !header.contains("Secure"),
        "{header}"
    );
    let max_age: u64 = header.split("Max-Age=").nth(1).and_then(|v| v.split(';').next()).and_then(|v| v.parse().ok()).expect("Max-Age");
    assert!((90 * 60 - 5..=90 * 60).contains(&max_age), "the session lasts web.session_minutes: {header}");
    drop(first); // SIGKILL: nothing is flushed on the way out

    let second = spawned::serve(dir.path(), &minutes);
    let c = client();
    let page = c.get(second.url("/transactions")).header("cookie", &officer.cookie).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "still signed in after the restart");
    assert_eq!(csrf_of(&page.text().await.unwrap()), officer.csrf, "the same session, with its CSRF token");
    // A state-changing request still needs that token.
    let res = c
        .post(second.url("/sign-out"))
        .header("cookie", &officer.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=0000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);

    // A replica: its own store folder (a store has one process), the same database.
    let other_store = dir.path().join("replica-store").display().to_string();
    let third = spawned::serve(dir.path(), &[minutes[0], ("REAGENT_STORE_DATA_DIR", &other_store)]);
    assert_eq!(c.get(third.url("/transactions")).header("cookie", &officer.cookie).send().await.unwrap().status().as_u16(), 200);
    let res = c
        .post(second.url("/sign-out"))
        .header("cookie", &officer.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", officer.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (_, removal) = set_cookie(&res, "reagent_session").expect("signing out removes the cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    for server in [&second, &third] {
        let res = c.get(server.url("/transactions")).header("cookie", &officer.cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303, "signed out everywhere");
    }
    // A made-up session id is no session.
    let res = c.get(third.url("/transactions")).header("cookie", "reagent_session=AAAAAAAAAAAAAAAAAAAAAA").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
}

/// A stored session this build cannot read (another version's record, a damaged row)
/// is no session: the page asks to sign in, never answers 503 until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_sessions_are_signed_out() {
    let server = server::start(&[], |_| {}).await;
    let now = reagent::db::now();
    let c = client();
    for (id, data) in [("AAAAAAAAAAAAAAAAAAAAAA", r#"{"signed_in":{"principal":"not a principal"}}"#), ("AQAAAAAAAAAAAAAAAAAAAA", "not json")] {
        let row = reagent::db::WebSessionRow { id: id.into(), data: data.into(), expires_at: now + chrono::Duration::hours(1) };
        assert!(server.db.create_web_session(&row, now).await.unwrap());
        let res = c.get(server.url("/transactions")).header("cookie", format!("reagent_session={id}")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303, "{data}");
        assert_eq!(server.db.web_session(id, now).await.unwrap(), None, "{data}: deleted");
    }
}
