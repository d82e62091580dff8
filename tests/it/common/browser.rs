//! A browser's sign-in through the web form (the form's paired cookie and CSRF token,
//! then the key), for tests that need a session or the form's answer.

/// A client that does not follow redirects (a sign-in answers 303).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `name=value` of cookie `name` among a response's `Set-Cookie` headers.
pub fn cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let rest = &html[html.find(marker).expect("a csrf field") + marker.len()..];
    rest[..rest.find('"').expect("a closed csrf value")].to_string()
}

/// What the sign-in form answered.
pub struct SignIn {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The session cookie (`name=value`) when one was set.
    pub session: Option<String>,
}

/// Signs in with `key` through the form of the server at `base` (`http://host:port`).
pub async fn sign_in(client: &reqwest::Client, base: &str, key: &str) -> SignIn {
    let form = client.get(format!("{base}/sign-in")).send().await.unwrap();
    let signin = cookie(&form, "reagent_signin").expect("the form sets its cookie");
    let token = csrf_of(&form.text().await.unwrap());
    let res = client
        .post(format!("{base}/sign-in"))
        .header("cookie", signin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&api_key={key}"))
        .send()
        .await
        .unwrap();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    SignIn { status: res.status().as_u16(), retry_after, session: cookie(&res, "reagent_session") }
}
