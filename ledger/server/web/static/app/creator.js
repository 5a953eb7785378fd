// The creator's desk (/creator): a key in this browser, clips hashed here, grants signed here.
// Every value shown is set as text (never as markup). The checks before signing are the format's
// (docs/FORMAT.md §3.2.4) with the core's vocabulary and patterns (the page's #vocabulary); the
// log checks the signed statement again with the core itself and its refusal is shown as said.

import * as L from "./ledger.js";
import { byPath, readClip, skipReason } from "./clips.js";
import { termClauses } from "./plain.js";
import { TrustError, problemText, submitAndVerify } from "./trust.js";
import { $, PATTERN, VOCAB, fail, link, needKey, row, show, start, state } from "./desk.js";

// --- registering ----------------------------------------------------------------------------------

async function register(event) {
  event.preventDefault();
  const out = $("register-result");
  try {
    const key = needKey();
    const name = $("pseudonym").value;
    if (!PATTERN.pseudonym.test(name)) throw new L.LedgerError("a pseudonym is 1-64 letters, digits, '.', '_', '-', ' ' (not starting or ending with a space)");
    const signed = await L.sign(L.partyRegister(key, name), key);
    const done = await submitAndVerify([signed]);
    out.replaceChildren(`Registered as ${name}: entry `, link(`/entries/${done.entries[0].seq}`, String(done.entries[0].seq)), ", included in the checkpoint of size " + done.checkpoint.size + " (verified here).");
    out.className = "ok";
    out.dataset.seq = String(done.entries[0].seq);
    refreshGrants();
  } catch (e) {
    fail(out, e);
  }
}

// --- clips ----------------------------------------------------------------------------------------

async function chooseClips(event) {
  const files = Array.from(event.target.files).sort(byPath);
  const status = $("hash-status");
  const bar = $("hash-progress");
  const taken = files.filter((f) => !skipReason(f));
  const skipped = files.length - taken.length;
  const total = taken.reduce((n, f) => n + f.size, 0) || 1;
  bar.max = total;
  let before = 0;
  const clips = [];
  try {
    for (const file of taken) {
      status.textContent = `hashing ${file.webkitRelativePath || file.name}…`;
      clips.push(await readClip(file, (done) => { bar.value = before + done; }));
      before += file.size;
    }
    state.clips = clips;
    status.textContent = `${clips.length} clip(s) hashed in this browser` + (skipped ? `; ${skipped} hidden or empty file(s) left out, as ledger hash does` : "");
    status.dataset.done = String(clips.length);
  } catch (e) {
    status.textContent = `could not read a file: ${e.message}`;
  }
  const body = $("clip-table").querySelector("tbody");
  body.replaceChildren(...state.clips.map((c) => {
    const tr = row([c.name, c.sha256, String(c.bytes), c.duration_s === null ? "unknown" : String(c.duration_s), c.media_type || "unknown"]);
    tr.dataset.sha256 = c.sha256;
    return tr;
  }));
}

// --- terms and the statement ----------------------------------------------------------------------

function dayStart(value) {
  return new Date(`${value}T00:00:00Z`);
}

// The terms member (docs/FORMAT.md §3.2.4) from the form, checked as the format checks it; the
// first problem is thrown with what to change.
export function termsFromForm(now = new Date()) {
  const bad = (message) => { throw new L.LedgerError(message); };
  const uses = Array.from(document.querySelectorAll('input[name="use"]:checked'), (i) => i.value);
  if (uses.length === 0) bad("choose at least one use");
  const prohibitions = Array.from(document.querySelectorAll('input[name="prohibit"]:checked'), (i) => i.value);
  const amount = $("price").value.trim();
  if (!PATTERN.amount.test(amount)) bad("the price must be a decimal like 2.50 (up to 8 decimals, no sign or thousands separator)");
  const currency = $("currency").value;
  if (!VOCAB.currencies.includes(currency)) bad("choose an ISO 4217 currency");
  const unit = $("unit").value;
  const words = $("territory").value.split(/[\s,]+/).filter(Boolean).map((t) => (t.toLowerCase() === VOCAB.worldwide ? VOCAB.worldwide : t.toUpperCase()));
  const territory = [...new Set(words)];
  if (territory.length === 0) bad('name the territory: "worldwide" or country codes');
  for (const t of territory) if (t !== VOCAB.worldwide && !VOCAB.territories.includes(t)) bad(`territory: ${t} is not an ISO 3166-1 alpha-2 code or "worldwide"`);
  if (territory.includes(VOCAB.worldwide) && territory.length > 1) bad('territory: "worldwide" stands alone');
  const start = $("start").value ? dayStart($("start").value) : new Date(Math.floor(now.getTime() / 1000) * 1000);
  if (!$("end").value) bad("choose the licence's end date");
  const end = new Date(dayStart($("end").value).getTime() + 86400000); // a bare end date: all of that day
  if (end <= start) bad(`the end must be later than the start (${L.timestamp(start)})`);
  const terms = {
    uses,
    prohibitions,
    exclusive: $("exclusive").checked,
    territory,
    start: L.timestamp(start),
    end: L.timestamp(end),
    revocable: $("revocable").checked,
    consideration: { amount, currency, unit },
    attribution: $("attribution").checked,
    sublicensing: $("sublicensing").checked,
  };
  if (terms.revocable) {
    const text = $("notice").value.trim();
    const days = /^[0-9]{1,4}$/.test(text) ? Number(text) : -1;
    if (days < 0 || days > VOCAB.max_notice_days) bad(`notice must be 0 to ${VOCAB.max_notice_days} whole days`);
    terms.notice_days = days;
  }
  return terms;
}

function itemsFromClips() {
  if (state.clips.length === 0) throw new L.LedgerError("choose the clips to license (step 3)");
  const seen = new Set();
  return state.clips.map((c) => {
    if (c.duration_s === null) throw new L.LedgerError(`${c.name}: its duration cannot be read here; license it with ledger grant --duration`);
    if (!c.media_type || !PATTERN.media_type.test(c.media_type)) throw new L.LedgerError(`${c.name}: its media type cannot be read here; license it with ledger grant --media-type`);
    if (seen.has(c.sha256)) throw new L.LedgerError(`${c.name}: the same content is listed twice`);
    seen.add(c.sha256);
    return { sha256: c.sha256, bytes: c.bytes, duration_s: c.duration_s, media_type: c.media_type };
  });
}

async function review(event) {
  event.preventDefault();
  const error = $("terms-error");
  state.drafts = [];
  $("sign").disabled = true;
  try {
    const key = needKey();
    const buyer = $("buyer").value.trim().toLowerCase();
    if (!PATTERN.key_id.test(buyer)) throw new L.LedgerError("the buyer's key id is 64 hex digits (ledger keygen prints it)");
    if (buyer === key.keyId) throw new L.LedgerError("the buyer must be another party's key, not yours");
    const terms = termsFromForm();
    const items = itemsFromClips();
    const statements = L.grantsForItems(key, buyer, items, terms);
    if (statements.length > 1 && terms.consideration.unit === "flat") {
      // docs/ACCOUNTS.md §1: a flat amount is owed per grant entry, so once per part.
      throw new L.LedgerError(`${items.length} clips need ${statements.length} grants, and a flat price would be owed once per grant: price them per minute or per clip, or license smaller sets, each with its own flat price`);
    }
    state.drafts = statements;
    const texts = statements.map((st) => new TextDecoder().decode(L.canonicalize(st)));
    $("statement").textContent = texts.join("\n\n");
    $("statement").dataset.count = String(statements.length);
    const hashes = await Promise.all(statements.map((st) => L.statementHash(L.canonicalize(st))));
    $("statement-hash").textContent = hashes.join(" ");
    $("split-note").textContent = statements.length > 1 ? `${items.length} clips do not fit one log entry (${L.MAX_LEAF_SIZE} bytes): they are split into ${statements.length} grants, each with its own id, signed and submitted together.` : "";
    $("review-terms").replaceChildren(...termClauses(terms, VOCAB).flatMap(([topic, sentence]) => {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = topic;
      dd.textContent = sentence;
      dd.dataset.term = topic;
      return [dt, dd];
    }));
    $("sign").disabled = false;
    show(error, "");
  } catch (e) {
    $("statement").textContent = "";
    $("statement-hash").textContent = "";
    $("review-terms").replaceChildren();
    fail(error, e);
  }
}

async function signAndSubmit() {
  const out = $("sign-result");
  $("sign").disabled = true;
  try {
    const key = needKey();
    const signed = [];
    for (const statement of state.drafts) signed.push(await L.sign(statement, key));
    const done = await submitAndVerify(signed);
    const parts = [];
    done.entries.forEach((entry, i) => {
      const id = state.drafts[i].grant_id;
      parts.push(i ? ", grant " : "Grant ", link(`/grants/${id}`, id), ` (entry ${entry.seq})`);
    });
    out.replaceChildren(...parts, ` logged; ${done.entries.length === 1 ? "its leaf and inclusion" : "their leaves and inclusions"} in the checkpoint of size ${done.checkpoint.size} verified in this browser.`);
    out.className = "ok";
    out.dataset.grantId = state.drafts[0].grant_id;
    out.dataset.seq = String(done.entries[0].seq);
    out.dataset.grants = state.drafts.map((d) => d.grant_id).join(" ");
    state.drafts = [];
    refreshGrants();
  } catch (e) {
    fail(out, e);
    if (!(e instanceof TrustError)) $("sign").disabled = false; // resending the same bytes is safe
  }
}

// --- grants made, and revoking ----------------------------------------------------------------------

async function refreshGrants() {
  const status = $("grants-status");
  const body = $("grant-table").querySelector("tbody");
  if (!state.key) return;
  try {
    const response = await fetch(`/v1/parties/${state.key.keyId}/grants`);
    const answer = await response.json();
    if (response.status === 404) { body.replaceChildren(); status.textContent = "This key is not registered yet (step 2)."; return; }
    if (!response.ok) throw new L.LedgerError(problemText(response, answer));
    body.replaceChildren(...answer.made.map((g) => grantRow(g)));
    status.textContent = `${answer.made_total} grant(s) made by your party.`;
  } catch (e) {
    fail(status, e);
  }
}

function grantRow(g) {
  const stateText = g.revoked_seq !== null ? `revoked, effective ${g.revocation_effective_at}` : g.accepted_seq !== null ? "accepted" : "offered, not accepted yet";
  const action = document.createElement("span");
  if (g.revoked_seq === null) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = g.accepted_seq === null ? "Withdraw" : "Revoke";
    button.setAttribute("aria-label", `${button.textContent} grant ${g.grant_id}`);
    button.addEventListener("click", () => revoke(g, button));
    action.append(button);
  }
  const tr = row([link(`/grants/${g.grant_id}`, g.grant_id), link(`/entries/${g.seq}`, String(g.seq)), stateText, action]);
  tr.dataset.grant = g.grant_id;
  tr.dataset.state = g.revoked_seq !== null ? "revoked" : g.accepted_seq !== null ? "accepted" : "offered";
  return tr;
}

// A grant not accepted may be withdrawn now; an accepted one only if its terms make it revocable,
// effective no earlier than its notice after it was logged (docs/FORMAT.md §3.6).
async function revoke(summary, button) {
  const status = $("grants-status");
  try {
    const key = needKey();
    const response = await fetch(`/v1/grants/${summary.grant_id}`);
    const g = await response.json();
    if (!response.ok) throw new L.LedgerError(problemText(response, g));
    const terms = g.entry.statement.terms;
    let effective = new Date(Math.ceil(Date.now() / 1000) * 1000);
    if (g.accepted_seq !== null) {
      if (!terms.revocable) throw new L.LedgerError("this grant was accepted and its terms do not let you revoke it");
      const logged = new Date(g.entry.integrated_at).getTime();
      const earliest = Math.ceil((logged + terms.notice_days * 86400000) / 1000) * 1000;
      effective = new Date(Math.max(effective.getTime(), earliest));
    }
    if (!window.confirm(`${button.textContent} grant ${summary.grant_id}, effective ${L.timestamp(effective)}?`)) return;
    const signed = await L.sign(L.grantRevoke(key, g.statement_hash, effective), key);
    const done = await submitAndVerify([signed]);
    status.textContent = `Grant ${summary.grant_id} revoked by entry ${done.entries[0].seq}, effective ${L.timestamp(effective)} (verified here).`;
    refreshGrants();
  } catch (e) {
    fail(status, e);
  }
}

// --- wiring ---------------------------------------------------------------------------------------

$("register-form").addEventListener("submit", register);
$("clip-files").addEventListener("change", chooseClips);
$("clip-folder").addEventListener("change", chooseClips);
$("terms-form").addEventListener("submit", review);
$("sign").addEventListener("click", signAndSubmit);
$("refresh").addEventListener("click", refreshGrants);
state.clips = [];
state.drafts = [];
start(() => refreshGrants());
