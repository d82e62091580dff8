// End-to-end tests of the reagent web interface in headless Chromium.
// scripts/e2e.sh starts a server over the demo corpus and seed, creates one API key
// per role, and passes them in the environment:
//   E2E_URL                       base URL of the running server
//   E2E_KEY_OFFICER / _VIEWER / _EDITOR   API keys of those roles
//   E2E_UPLOAD_FILE               a new version of a corpus document
//   E2E_UPLOAD_DOC / _VERSION     its document id and version
//   E2E_SCREENSHOTS               where screenshots go (default ../artifacts/screenshots)
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through scripts/e2e.sh`);
  return v;
}

const base = env("E2E_URL").replace(/\/$/, "");
const keys = {
  officer: env("E2E_KEY_OFFICER"),
  viewer: env("E2E_KEY_VIEWER"),
  editor: env("E2E_KEY_EDITOR"),
};
const shots = process.env.E2E_SCREENSHOTS || path.join(__dirname, "..", "artifacts", "screenshots");
fs.mkdirSync(shots, { recursive: true });

let context;
let page;
let profile;
let analysisUrl;
const problems = [];

before(async () => {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "reagent-e2e-profile-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(60_000);
  // Requests to another origin (a CDN, a tracker) and browser errors (a script
  // error, a blocked inline script or style) are collected; the last test asserts none.
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.origin !== new URL(base).origin && u.protocol.startsWith("http")) {
      problems.push(`request to another origin: ${req.url()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (msg) => {
    // 4xx answers the tests provoke on purpose are logged as failed loads; skip those.
    if (msg.type() === "error" && !/status of 4\d\d/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

async function shot(name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

async function signIn(key) {
  await context.clearCookies();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/sign-in"));
}

test("a wrong API key is refused with a message next to the field", async () => {
  await context.clearCookies();
  await page.goto(`${base}/transactions`);
  assert.match(new URL(page.url()).pathname, /^\/sign-in/, "signed-out visitors are sent to sign in");
  await page.getByLabel("API key").fill("rk_000000000000_" + "0".repeat(64));
  await page.getByRole("button", { name: "Sign in" }).click();
  const error = page.locator("#api_key-error");
  await error.waitFor();
  assert.match(await error.innerText(), /not valid/);
  assert.equal(await page.locator("#api_key").getAttribute("aria-invalid"), "true");
  await shot("sign-in-error");
});

test("the session cookie is HttpOnly and SameSite=Strict", async () => {
  await signIn(keys.officer);
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === "reagent_session");
  assert.ok(session, "a session cookie is set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie.includes("reagent_session")), false, "scripts cannot read it");
});

test("an officer analyzes TXN003, reads a citation, asks a question and decides", async () => {
  await signIn(keys.officer);
  await page.goto(`${base}/transactions`);
  await page.getByLabel("Search by transaction, customer or counterparty").fill("TXN003");
  await page.getByRole("button", { name: "Search" }).click();
  const row = page.locator('tr[data-transaction="TXN003"]');
  await row.waitFor();
  assert.match(await row.innerText(), /85,000\.00 USD/);
  assert.match(await row.innerText(), /US → MM/);
  await shot("transactions");

  await row.getByRole("button", { name: "Analyze TXN003" }).click();
  await page.waitForURL(/\/analyses\/[0-9a-f-]{36}$/);
  analysisUrl = page.url();
  const risk = await page.getByTestId("risk-level").innerText();
  assert.match(risk, /High risk/, "TXN003 (wire to Myanmar, PEP customer) is high risk");
  await page.getByTestId("review-banner").waitFor();
  assert.match(await page.getByTestId("generator").innerText(), /Rules generator|LLM/);
  const actions = await page.locator("[data-action]").count();
  assert.ok(actions > 0, "required actions are listed");
  await shot("analysis");

  // A citation opens the cited chunk's text with its document, version and section.
  const citation = page.locator("a[data-citation]").first();
  const label = await citation.innerText();
  await citation.click();
  const text = page.locator("#evidence [data-testid=chunk-text]");
  await text.waitFor();
  assert.ok((await text.innerText()).trim().length > 40, "the chunk's text is shown");
  assert.ok((await page.locator("#evidence [data-testid=chunk-version]").innerText()).trim().length > 0);
  const heading = await page.locator("#evidence h3").innerText();
  assert.ok(heading.length > 0 && label.length > 0);
  await shot("citation");

  // The citation also works as a plain link (no script needed).
  const href = await citation.getAttribute("href");
  assert.match(href, /^\/chunks\/[0-9a-f-]{36}$/);

  // A free question, answered with citations.
  await page.getByLabel("Your question").fill("Which records must we keep for this wire transfer?");
  await page.getByRole("button", { name: /^Ask/ }).click();
  const answer = page.getByTestId("answer");
  await answer.waitFor();
  assert.ok((await answer.locator(".answer-text").innerText()).trim().length > 0, "an answer is shown");
  assert.ok((await answer.locator("a[data-citation]").count()) > 0, "the answer cites sources");
  await shot("question");

  // A decision without a comment is refused next to the field.
  await page.getByRole("button", { name: "Escalate" }).click();
  await page.locator("#decision-error").waitFor();
  assert.match(await page.locator("#decision-error").innerText(), /comment/i);

  await page.getByLabel("Comment (required)").fill("Myanmar jade wire for a PEP: escalate to the BSA officer.");
  await page.getByRole("button", { name: "Escalate" }).click();
  await page.waitForURL(/\/analyses\/[0-9a-f-]{36}#decision$/);
  const timeline = page.getByTestId("timeline");
  assert.match(await timeline.innerText(), /escalate/i, "the decision appears in the audit timeline");
  await shot("decision");

  // Narrow screen: the same page still works.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(analysisUrl);
  await page.getByTestId("risk-level").waitFor();
  await shot("analysis-narrow");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("a viewer sees the analysis but cannot decide", async () => {
  assert.ok(analysisUrl, "the officer test ran first");
  await signIn(keys.viewer);
  await page.goto(analysisUrl);
  await page.getByTestId("risk-level").waitFor();
  assert.equal(await page.getByTestId("decision-form").count(), 0, "no decision form");
  assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0, "no decision buttons");
  await page.getByTestId("no-decision").waitFor();
  // Posting anyway, with a valid CSRF token, is refused by the server.
  const status = await page.evaluate(async (url) => {
    const csrf = document.body.dataset.csrf;
    const body = new URLSearchParams({ csrf, decision: "approve", comment: "viewer tries" });
    const r = await fetch(url + "/decision", { method: "POST", body });
    return r.status;
  }, analysisUrl);
  assert.equal(status, 403);
  await shot("analysis-viewer");
});

test("a form without its CSRF token is refused", async () => {
  await signIn(keys.officer);
  await page.goto(`${base}/transactions`);
  const status = await page.evaluate(async () => {
    const r = await fetch("/transactions/TXN001/analyze", { method: "POST", body: new URLSearchParams({}) });
    return r.status;
  });
  assert.equal(status, 403);
});

test("a policy editor uploads a new version and sees it listed", async () => {
  const file = env("E2E_UPLOAD_FILE");
  const doc = env("E2E_UPLOAD_DOC");
  const version = env("E2E_UPLOAD_VERSION");
  await signIn(keys.editor);
  await page.goto(`${base}/documents`);
  const before = await page.locator(`[data-document="${doc}"] tr[data-version]`).count();
  assert.ok(before >= 1, "the corpus document is listed");
  await page.getByLabel("File").setInputFiles(file);
  await page.getByRole("button", { name: "Upload" }).click();
  // Back on the documents page, the job is listed (its row polls for progress);
  // reload until it has finished and the new version is listed.
  await page.waitForURL(/\/documents(#.*)?$/);
  await page.getByTestId("job").first().waitFor();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const listed = await page.locator(`[data-document="${doc}"] tr[data-version="${version}"]`).count();
    const jobs = await page.getByTestId("jobs").innerText();
    assert.doesNotMatch(jobs, /failed/, "the ingestion job did not fail");
    if (listed > 0 && /succeeded/.test(jobs)) break;
    if (Date.now() > deadline) throw new Error(`version ${version} of ${doc} did not appear: ${jobs}`);
    await page.waitForTimeout(1000);
    await page.goto(`${base}/documents`);
  }
  await shot("documents");

  await page.goto(`${base}/documents/${doc}`);
  await page.getByRole("button", { name: "Show changes" }).click();
  const summary = page.getByTestId("diff-summary");
  await summary.waitFor();
  assert.match(await summary.innerText(), /\d+ added, \d+ removed, [1-9]\d* changed/);
  await shot("diff");
});

test("an officer reads the quality dashboard; a viewer may not", async () => {
  assert.ok(analysisUrl, "the officer test ran first");
  await signIn(keys.officer);
  await page.goto(`${base}/transactions`);
  await page.getByRole("link", { name: "Dashboard" }).click();
  await page.getByRole("heading", { level: 1, name: "Quality dashboard" }).waitFor();
  assert.equal(await page.locator('a[href="/dashboard"]').getAttribute("aria-current"), "page");
  // Seven charts drawn on the server, each an accessible image with a title.
  const charts = page.locator("[data-chart] svg[role=img]");
  assert.equal(await charts.count(), 7);
  for (let i = 0; i < 7; i++) {
    assert.ok((await charts.nth(i).locator("title").first().textContent()).length > 0, "each chart has a title");
  }
  // The officer's analysis and decision of TXN003 (made today) are counted.
  const figure = async (label) => {
    const row = page.getByTestId("summary").locator("tr", { has: page.locator("th", { hasText: new RegExp(`^${label}$`) }) });
    return (await row.locator("td").innerText()).trim();
  };
  assert.ok(Number(await figure("Analyses")) >= 1, "the analysis is counted");
  assert.ok(Number(await figure("Analyses, high risk")) >= 1, "TXN003 is high risk");
  assert.ok(Number(await figure("Decisions: escalate")) >= 1, "the escalation is counted");
  assert.doesNotMatch(await page.locator("main").innerText(), /NaN/);
  // The values of a chart as a table.
  const analyses = page.locator('[data-chart="analyses"]');
  await analyses.locator("summary").click();
  assert.ok((await analyses.locator("tbody tr").count()) >= 1);
  await shot("dashboard");

  // The date range selector: today only.
  const today = await page.locator("#to").inputValue();
  await page.locator("#from").fill(today);
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForURL((u) => u.pathname === "/dashboard" && u.searchParams.get("from") === today);
  assert.match(await page.getByTestId("range").innerText(), /1 day in /);
  assert.equal(await page.locator("[data-chart] svg[role=img]").count(), 7);
  await shot("dashboard-today");

  await signIn(keys.viewer);
  assert.equal(await page.locator('a[href="/dashboard"]').count(), 0, "no dashboard link for a viewer");
  const response = await page.goto(`${base}/dashboard`);
  assert.equal(response.status(), 403);
});

test("the evaluation page renders", async () => {
  await signIn(keys.viewer);
  await page.goto(`${base}/evaluation`);
  await page.getByRole("heading", { level: 1, name: "Evaluation" }).waitFor();
  const reports = await page.locator("[data-report]").count();
  const empty = await page.getByTestId("eval-empty").count();
  assert.ok(reports > 0 || empty === 1, "reports or the empty state");
  await shot("evaluation");
});

test("an officer works the review queue: findings once, assign, case view, decide with a narrative", async () => {
  await signIn(keys.officer);
  await page.goto(`${base}/transactions`);
  await page.getByLabel("Search by transaction, customer or counterparty").fill("TXN007");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator('tr[data-transaction="TXN007"]').getByRole("button", { name: "Analyze TXN007" }).click();
  await page.waitForURL(/\/analyses\/[0-9a-f-]{36}$/);
  // The analysis page shows the SAR finding once, with its deadline, days left and evidence.
  assert.equal(await page.locator('[data-action="SAR_REVIEW"]').count(), 1, "one SAR finding");
  assert.match(await page.locator('[data-action="SAR_REVIEW"] [data-testid=days-left]').innerText(), /overdue|left|today/);
  assert.ok((await page.locator('[data-action="SAR_REVIEW"] a[data-citation]').count()) > 0, "the finding cites its evidence");
  assert.equal(await page.locator('[data-action="SAR_REVIEW"] .recommendation').count(), 1, "its recommendation is folded in");
  await shot("analysis-findings");

  // The queue: the item with its due date; assign it to me.
  await page.getByRole("link", { name: "Review queue" }).click();
  await page.waitForURL(/\/queue$/);
  const row = page.locator('tr[data-transaction="TXN007"]');
  await row.waitFor();
  assert.match(await row.innerText(), /SAR_REVIEW/);
  await row.getByRole("button", { name: "Assign TXN007 to me" }).click();
  await page.waitForURL(/\/queue$/);
  assert.doesNotMatch(await page.locator('tr[data-transaction="TXN007"] [data-testid=assignee]').innerText(), /unassigned/);
  await page.getByLabel("Action").selectOption("SAR_REVIEW");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/action=SAR_REVIEW/);
  await shot("queue");

  // The case view: the structuring deposits, the narrative draft citing chunks.
  await page.locator('tr[data-transaction="TXN007"]').getByRole("link", { name: "TXN007" }).click();
  await page.waitForURL(/\/cases\/[0-9a-f-]{36}$/);
  const caseUrl = page.url();
  assert.ok((await page.locator("tr.in-pattern").count()) >= 3, "the pattern's deposits are marked");
  assert.match(await page.getByTestId("narrative-sections").innerText(), /Who[\s\S]*How/);
  assert.ok((await page.locator("a.chunk-ref").count()) > 0, "the draft cites chunks");
  await shot("case");
  const narrative = page.locator("textarea#narrative");
  await narrative.fill((await narrative.inputValue()) + "\n\nOfficer note: deposits made at two branches.");
  await page.getByLabel("Comment (required)").fill("Structuring across four days: file a SAR.");
  await page.getByRole("button", { name: "File SAR" }).click();
  await page.waitForURL(/#decision$/);
  assert.match(await page.getByTestId("case-decisions").innerText(), /file_sar/);
  assert.match(await page.locator("textarea#narrative").inputValue(), /Officer note: deposits made at two branches\./, "the narrative is kept");

  // The printable page, in print media, and the queue without the decided item.
  await page.goto(`${caseUrl}/print`);
  await page.emulateMedia({ media: "print" });
  assert.match(await page.locator("pre.narrative-text").innerText(), /Officer note/);
  await shot("case-print");
  await page.emulateMedia({ media: "screen" });
  await page.goto(`${base}/queue`);
  assert.equal(await page.locator('tr[data-transaction="TXN007"]').count(), 0, "decided: out of the queue");
});

test("no page loaded anything from elsewhere or logged an error", () => {
  assert.deepEqual(problems, []);
});
