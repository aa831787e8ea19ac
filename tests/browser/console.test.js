// Real-browser tests of the coordinator console, run by scripts/browser-tests.sh against a running
// `continuum up --demo` (a short referral response window, so a deadline really passes).
//
// Debian's Chromium, driven by playwright-core over the DevTools protocol; axe-core checks every page and
// fails on any serious or critical violation. Everything the console shows was made through the real
// system: intakes submitted to the gateway's FHIR endpoint, routed by the services to referrals and to the
// waitlist; the deadline sweeper escalates the unanswered referrals. Screenshots go to $SCREENSHOTS.
//
//   CONSOLE_URL=http://127.0.0.1:8080 CONTINUUM_TOKEN=<Harbor intake token> SCREENSHOTS=docs/console \
//     node --test tests/browser/console.test.js

"use strict";

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");
const axe = require("axe-core");

const BASE = process.env.CONSOLE_URL;
const TOKEN = process.env.CONTINUUM_TOKEN;
const SHOTS = process.env.SCREENSHOTS || path.join(__dirname, "..", "..", "docs", "console");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const OVERDUE_WAIT_MS = Number(process.env.OVERDUE_WAIT_SECS || 120) * 1000;
const CANONICAL = "https://continuum.example.org/fhir";

if (!BASE || !TOKEN) {
  console.error("set CONSOLE_URL and CONTINUUM_TOKEN");
  process.exit(2);
}
fs.mkdirSync(SHOTS, { recursive: true });

/** One intake Bundle (PHQ-9 moderate: outpatient care), as a clinic's FHIR client sends it. */
function intakeBundle(key, { language = "en", payment = "self-pay" } = {}) {
  const patient = "urn:uuid:7c1e2d3f-0000-4000-8000-" + String(Math.floor(Math.random() * 1e12)).padStart(12, "0");
  const items = [2, 2, 1, 1, 1, 1, 1, 2, 0].map((v, i) => ({ linkId: String(i + 1), answer: [{ valueInteger: v }] }));
  return {
    resourceType: "Bundle", type: "transaction",
    identifier: { system: "urn:example:browser-test", value: key },
    entry: [
      { fullUrl: patient, request: { method: "POST", url: "Patient" },
        resource: { resourceType: "Patient", name: [{ given: ["Browser"], family: "Test" }], birthDate: "1988-05-06",
          address: [{ country: "US", state: "CA" }],
          communication: [{ language: { coding: [{ system: "urn:ietf:bcp:47", code: language }] }, preferred: true }],
          extension: [{ url: `${CANONICAL}/StructureDefinition/payment-option`, valueCode: payment }] } },
      { request: { method: "POST", url: "QuestionnaireResponse" },
        resource: { resourceType: "QuestionnaireResponse", status: "completed",
          questionnaire: `${CANONICAL}/Questionnaire/phq-9`, subject: { reference: patient }, item: items } },
      { request: { method: "POST", url: "Consent" },
        resource: { resourceType: "Consent", status: "active",
          scope: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/consentscope", code: "patient-privacy" }] },
          category: [{ coding: [{ system: "http://loinc.org", code: "59284-0" }] }], provision: { type: "permit" } } },
    ],
  };
}

/** Submits an intake; returns the { task, appointment, client } ids of the transaction-response. */
async function submit(key, opts) {
  const r = await fetch(`${BASE}/fhir`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/fhir+json" },
    body: JSON.stringify(intakeBundle(key, opts)),
  });
  const body = await r.json();
  assert.equal(r.status, 200, `intake ${key}: ${JSON.stringify(body).slice(0, 400)}`);
  const out = { task: null, appointment: null, client: null };
  for (const e of body.entry || []) {
    const loc = (e.response && e.response.location) || "";
    if (loc.startsWith("Task/")) out.task = loc.split("/")[1];
    if (loc.startsWith("Patient/")) out.client = loc.split("/")[1];
    if (e.resource && e.resource.resourceType === "Appointment") out.appointment = e.resource.id;
  }
  return out;
}

/** Runs axe-core on the page; fails on serious or critical violations, returns the counts. */
async function checkA11y(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const summary = result.violations.map((v) => `${v.impact}:${v.id}(${v.nodes.length})`).join(", ");
  console.log(`axe ${name}: ${result.violations.length} violations${summary ? " — " + summary : ""}`);
  assert.equal(bad.length, 0, `${name}: serious/critical axe violations: ` +
    JSON.stringify(bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target) }))));
  return result.violations.length;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(browser, label, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, ...options });
  const page = await context.newPage();
  await page.goto(`${BASE}/`);
  assert.match(page.url(), /\/sign-in\?next=/, "a page without a session sends you to sign in");
  await page.getByRole("button", { name: `Sign in as ${label}` }).click();
  await page.waitForURL(`${BASE}/`);
  await page.getByRole("heading", { level: 1, name: "Worklist" }).waitFor();
  return { context, page };
}

test("the coordinator console in a real browser", { timeout: 300_000 }, async (t) => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  t.after(() => browser.close());
  const run = Date.now();
  const axeCounts = {};

  // The real system makes the data: intakes through FHIR. Chinese-speaking clients with commercial
  // insurance fit one Harbor clinician only (3 slots in the demo directory): the first ones are referred
  // (their referrals will pass the short response window), the next is waitlisted.
  // Three are waitlisted: one for the slot offer, one for a check-in and a removal, one left waiting.
  const referred = [];
  const waitlisted = [];
  for (let i = 0; i < 12 && waitlisted.length < 3; i++) {
    const out = await submit(`browser-${run}-${i}`, { language: "zh", payment: "commercial-insurance" });
    if (out.task) referred.push(out.task);
    if (out.appointment) waitlisted.push(out.appointment);
  }
  assert.ok(referred.length > 0, "at least one intake was referred");
  assert.equal(waitlisted.length, 3, "intakes were waitlisted once the clinician was full");
  const submittedAt = Date.now();

  await t.test("sign-in page", async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${BASE}/sign-in`);
    await page.getByLabel("Bearer token").waitFor();
    axeCounts["sign-in"] = await checkA11y(page, "sign-in");
    await shot(page, "sign-in");
    // Keyboard: the skip link is the first stop and reveals itself.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to main content");
    await context.close();
  });

  const { context: harborCtx, page } = await signIn(browser, "Harbor coordinator");
  t.after(() => harborCtx.close());

  await t.test("worklist: the overdue referral, acted on; another coordinator's stale row", async () => {
    // A second Harbor coordinator with live updates, and a third without script (a stale page).
    const { context: liveCtx, page: live } = await signIn(browser, "Harbor coordinator");
    const { context: staleCtx, page: stale } = await signIn(browser, "Harbor coordinator", { javaScriptEnabled: false });
    t.after(() => liveCtx.close());
    t.after(() => staleCtx.close());

    // Wait for the real deadline to pass (the referral service's response window) and the sweeper to escalate.
    const deadline = submittedAt + OVERDUE_WAIT_MS;
    let overdueRow = null;
    while (Date.now() < deadline) {
      await page.goto(`${BASE}/?overdue=1`);
      const rows = page.locator("tr.late", { has: page.getByText("Escalated") });
      if ((await rows.count()) > 0) { overdueRow = rows.first(); break; }
      await page.waitForTimeout(2000);
    }
    assert.ok(overdueRow, "a referral became overdue and was escalated");
    const id = await overdueRow.getAttribute("data-referral-id");
    assert.ok(referred.includes(id), "it is one of the referrals the intakes made");
    await page.goto(`${BASE}/`);
    const row = page.locator(`tr[data-referral-id="${id}"]`);
    assert.match(await row.innerText(), /Overdue by/);
    axeCounts["worklist"] = await checkA11y(page, "worklist");
    await shot(page, "worklist");

    // The organization-unit filter: the referral's unit (shown under its provider) keeps it; another unit
    // of the organization leaves it out.
    const unit = (await row.locator(".unit").innerText()).trim();
    const unitSelect = page.getByLabel("Unit", { exact: true });
    const units = (await unitSelect.locator("option").allInnerTexts()).filter((u) => u !== "Any");
    assert.ok(units.includes(unit) && units.length >= 2, `the organization's units: ${units}`);
    const other = units.find((u) => u !== unit);
    for (const [choice, shown] of [[unit, 1], [other, 0]]) {
      await unitSelect.selectOption({ label: choice });
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.waitForURL((u) => u.searchParams.get("unit") === choice);
      assert.equal(await page.locator(`tr[data-referral-id="${id}"]`).count(), shown, `unit ${choice}`);
    }
    await page.goto(`${BASE}/`);

    await live.goto(`${BASE}/`);
    await live.waitForFunction(() => document.body.getAttribute("data-live-connected") === "yes");
    await stale.goto(`${BASE}/`);

    // Act: accept it, with a note (the recipient's answer).
    await row.locator("summary").click();
    const accept = row.locator('form[data-action="accept"]');
    await accept.getByLabel(/Note/).fill("accepted from the console");
    await accept.getByRole("button", { name: "Accept" }).click();
    await page.getByText(/Accept: done on referral .* \(now accepted/).waitFor();
    assert.doesNotMatch(await page.locator(`tr[data-referral-id="${id}"]`).innerText(), /Overdue by/);

    // The other coordinator's page learned of it (WatchReferrals over SSE) and refreshed the row.
    await live.waitForFunction(() => document.body.hasAttribute("data-refreshed"), null, { timeout: 15_000 });
    assert.match(await live.locator(`tr[data-referral-id="${id}"]`).innerText(), /accepted/);

    // The page without script still shows the old version: acting on it is refused plainly.
    const staleRow = stale.locator(`tr[data-referral-id="${id}"]`);
    await staleRow.locator("summary").click();
    await staleRow.locator('form[data-action="mark_received"]').getByRole("button").click();
    await stale.getByText("Changed by someone else.").waitFor();
    await shot(stale, "conflict");
    // axe needs script: check the same HTML in a page of the same origin that runs it.
    const conflictHtml = await stale.content();
    await page.goto(`${BASE}/livez`);
    await page.setContent(conflictHtml, { waitUntil: "load" });
    axeCounts["conflict"] = await checkA11y(page, "conflict");

    await page.goto(`${BASE}/referrals/${id}`);
    await page.getByText("accepted from the console").waitFor();
    axeCounts["referral"] = await checkA11y(page, "referral");
    await shot(page, "referral");

    // The rest of the closed loop from the referral's page: schedule, then the first visit attended.
    const schedule = page.locator('form[data-action="schedule"]');
    await schedule.getByLabel("Appointment (UTC)").fill("2030-01-15T10:30");
    await schedule.getByRole("button", { name: "Schedule first appointment" }).click();
    await page.getByText(/Schedule first appointment: done on referral .* \(now accepted/).waitFor();
    await page.getByText(/appointment 2030-01-15 10:30 UTC/).first().waitFor();
    const attended = page.locator('form[data-action="record_first_appointment_attended"]');
    await attended.getByRole("button", { name: "Record first appointment attended" }).click();
    await page.getByText(/Record first appointment attended: done on referral .* \(now in progress/).waitFor();
    assert.match(await page.locator("dl.facts").innerText(), /in progress/, "care has started");

    // Put on hold and resumed.
    await page.locator('form[data-action="hold"]').getByRole("button", { name: "Put on hold" }).click();
    await page.getByText(/Put on hold: done on referral .* \(now on hold/).waitFor();
    await page.locator('form[data-action="resume"]').getByRole("button", { name: "Resume" }).click();
    await page.getByText(/Resume: done on referral .* \(now in progress/).waitFor();
  });


  await t.test("waitlist board: open a slot and see the offer appear", async () => {
    await page.getByRole("link", { name: "Waitlist board" }).click();
    await page.getByRole("heading", { level: 1, name: "Waitlist board" }).waitFor();
    const rows = page.locator("tr[data-entry-id]");
    assert.ok((await rows.count()) >= 1, "the waitlisted client is on the board");
    axeCounts["waitlist"] = await checkA11y(page, "waitlist");
    await shot(page, "waitlist");
    const before = await page.getByText("Offer pending").count();
    await page.getByLabel("Provider").selectOption({ label: "Dr. Maya Chen (CBT, ACT; structured, present-focused)" });
    await page.getByLabel("Slots").fill("1");
    await page.getByRole("button", { name: "Open and offer" }).click();
    await page.getByText("Slot opened and offered").waitFor();
    assert.equal(await page.getByText("Offer pending").count(), before + 1, "the new offer is on the board");
    await shot(page, "waitlist-offer");
  });

  let clientPath = null;
  await t.test("client path: the care timeline across the four services", async () => {
    const row = page.locator("tr[data-entry-id]", { has: page.getByText("Offer pending") }).first();
    await row.getByRole("link", { name: /Client path of client/ }).click();
    await page.getByRole("heading", { level: 1, name: /Client path/ }).waitFor();
    clientPath = new URL(page.url()).pathname;
    const timeline = await page.locator("ol.timeline").innerText();
    assert.match(timeline, /intake received/i, "intake's steps");
    assert.match(timeline, /waitlist/i, "the waitlist's steps");
    assert.match(timeline, /offer made/i, "the offer just made");
    axeCounts["client-path"] = await checkA11y(page, "client-path");
    await shot(page, "client-path");
  });

  await t.test("waitlist entry: a check-in re-screens, a removal takes the client off the list", async () => {
    await page.goto(`${BASE}/waitlist`);
    // A waiting client without an offer.
    const row = page.locator("tr[data-entry-id]", { hasNot: page.getByText("Offer pending") }).first();
    const entryId = await row.getAttribute("data-entry-id");
    await row.getByRole("link", { name: /Check-in or remove/ }).click();
    await page.getByRole("heading", { level: 1, name: "Waitlist entry" }).waitFor();
    axeCounts["waitlist-entry"] = await checkA11y(page, "waitlist-entry");

    // A partial re-screen is refused with the items named, nothing recorded.
    const form = page.locator('form[data-action="check-in"]');
    await form.getByLabel("Answered", { exact: true }).check();
    await form.getByLabel("Item 1: interest or pleasure in doing things").selectOption("3");
    await form.getByRole("button", { name: "Record check-in" }).click();
    await page.getByText(/PHQ-9: answer all 9 items or none \(item 2, 3, 4, 5, 6, 7, 8, 9 not answered\)/).waitFor();

    // A whole PHQ-9 that is much worse (severe, item 9 at 0): the band rises.
    const phq9 = [3, 3, 3, 3, 3, 3, 3, 3, 0];
    const items = page.locator('form[data-action="check-in"] fieldset.items').first().locator("select");
    assert.equal(await items.count(), 9);
    for (let i = 0; i < 9; i++) await items.nth(i).selectOption(String(phq9[i]));
    await shot(page, "waitlist-entry");
    await page.getByRole("button", { name: "Record check-in" }).click();
    const flash = page.getByText(/Check-in recorded: band now (urgent|soon)\./);
    await flash.waitFor();
    const band = (await flash.innerText()).match(/band now (urgent|soon)/)[1];
    assert.match(await page.locator("dl.facts").innerText(), new RegExp(`Band\\s+${band}`, "i"));

    // Removal, with the reason the API requires.
    await page.getByLabel("Reason (required, not clinical)").fill("moved out of the area");
    await page.getByRole("button", { name: "Remove from the waitlist" }).click();
    await page.getByText(/Removed from the waitlist: client/).waitFor();
    assert.equal(await page.locator(`tr[data-entry-id="${entryId}"]`).count(), 0, "off the board");
  });

  await t.test("the client accepts the offer: placed, and the referral is made", async () => {
    await page.goto(`${BASE}/waitlist`);
    const offer = page.locator("div.offer").first();
    await offer.getByRole("button", { name: /Client accepts/ }).click();
    await page.getByText(/Offer accepted: referral .* created, scheduled\./).waitFor();
  });

  await t.test("wait metrics as charts", async () => {
    await page.goto(`${BASE}/waitlist`);
    const onTheBoard = Number((await page.locator("p.summary").innerText()).match(/(\d+) waiting/)[1]);
    await page.getByRole("link", { name: "Wait metrics" }).click();
    await page.getByRole("heading", { level: 1, name: "Wait metrics" }).waitFor();
    assert.equal(await page.locator("svg.chart[role=img]").count(), 3);
    // The length series is the waitlist's own (13 weekly rows); today's row counts exactly the clients on
    // the board (the removed and the placed ones are gone from both).
    const rows = page.locator("table", { has: page.getByText("Waitlist length by band (the chart's numbers)") }).locator("tbody tr");
    assert.equal(await rows.count(), 13);
    const today = (await rows.last().locator("td").allInnerTexts()).map(Number);
    assert.equal(today.reduce((a, b) => a + b, 0), onTheBoard, `today's row ${today}, board ${onTheBoard}`);
    axeCounts["wait-metrics"] = await checkA11y(page, "wait-metrics");
    await shot(page, "wait-metrics");
  });

  await t.test("a no-show and a cancelled appointment; a referral rejected with a reason", async () => {
    // Last of Harbor's actions: the re-routing it starts changes the board and the offers afterwards.
    const open = [];
    for (const r of referred) {
      await page.goto(`${BASE}/referrals/${r}`);
      if ((await page.locator('form[data-action="reject"]').count()) > 0) open.push(r);
    }
    assert.ok(open.length >= 2, `requested referrals to act on (referred: ${referred.length}, open: ${open.length})`);

    // One accepted and scheduled, a no-show recorded, rescheduled, the appointment cancelled: the referral
    // stays accepted through each, with the step in its history.
    await page.goto(`${BASE}/referrals/${open[1]}`);
    const act = async (action, label, after) => {
      const form = page.locator(`form[data-action="${action}"]`);
      if (action === "schedule") await form.getByLabel("Appointment (UTC)").fill("2030-02-01T09:00");
      await form.getByRole("button", { name: label }).click();
      await page.getByText(new RegExp(`${label.replace(/[()]/g, "\\$&")}: done on referral .* \\(now ${after}`)).waitFor();
    };
    await act("accept", "Accept", "accepted");
    await act("schedule", "Schedule first appointment", "accepted");
    await act("record_no_show", "Record no-show", "accepted");
    await act("schedule", "Schedule first appointment", "accepted");
    await act("cancel_appointment", "Record appointment cancelled", "accepted");
    const history = await page.locator("main").innerText();
    assert.match(history, /no.show/i, "the no-show is in the referral's history");
    assert.match(history, /cancel/i, "the cancelled appointment too");

    await page.goto(`${BASE}/referrals/${open[0]}`);
    const reject = page.locator('form[data-action="reject"]');
    await reject.getByLabel("Reason").selectOption({ label: "No capacity" });
    await reject.getByRole("button", { name: "Reject (re-routes to the next option)" }).click();
    await page.getByText(/Reject \(re-routes to the next option\): done on referral .* \(now rejected/).waitFor();
  });

  await t.test("tenancy: another organization's coordinator sees none of it", async () => {
    const { context, page: other } = await signIn(browser, "Riverbend coordinator");
    t.after(() => context.close());
    const worklist = await other.content();
    for (const id of referred) assert.ok(!worklist.includes(id), `Harbor's referral ${id} not on Riverbend's worklist`);
    await shot(other, "tenancy-riverbend");
    const r = await other.goto(`${BASE}/referrals/${referred[0]}`);
    assert.equal(r.status(), 404, "another organization's referral is not found");
    await other.goto(`${BASE}/waitlist`);
    assert.equal(await other.locator("tr[data-entry-id]").count(), 0, "no Harbor entry on Riverbend's board");
    const c = await other.goto(`${BASE}${clientPath}`);
    const text = await other.locator("main").innerText();
    assert.ok(c.status() === 404 || /No step visible/.test(text), "Harbor's client path shows Riverbend nothing");
    assert.doesNotMatch(text, /intake received/i);
    axeCounts["tenancy"] = await checkA11y(other, "tenancy");
  });

  await t.test("signing out ends the session", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You are signed out.").waitFor();
    await page.goto(`${BASE}/waitlist`);
    assert.match(page.url(), /\/sign-in/);
  });

  console.log("axe violations (none serious or critical) by page:", JSON.stringify(axeCounts));
});
