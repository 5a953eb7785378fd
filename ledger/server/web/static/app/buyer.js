// The buyer's desk (/buyer): offers made to your key, each read from its own verified entry and
// shown with every term in the evidence report's words; accepted with your key after review; and
// evidence for a dataset (a manifest, or a folder hashed here), with the report beside it.

import * as L from "./ledger.js";
import { byPath, hashFile, skipReason } from "./clips.js";
import { termClauses } from "./plain.js";
import { TrustError, problemText, submitAndVerify, syncLog, verifiedEntry, verifyCheckpoint, verifyConsistency, verifyInclusion, leafHash } from "./trust.js";
import { $, VOCAB, fail, link, needKey, row, start, state } from "./desk.js";

async function getJson(path) {
  const response = await fetch(path);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new L.LedgerError(problemText(response, body));
  return body;
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

// --- offers ---------------------------------------------------------------------------------------

async function refreshOffers() {
  const status = $("offers-status");
  const list = $("offers");
  list.replaceChildren();
  if (!state.key) return;
  try {
    const key = state.key;
    const { checkpoint } = await syncLog();
    const response = await fetch(`/v1/parties/${key.keyId}/grants`);
    const answer = await response.json();
    if (response.status === 404) { status.textContent = "This key is not registered yet: register it with the creator's desk or ledger register."; return; }
    if (!response.ok) throw new L.LedgerError(problemText(response, answer));
    const party = await getJson(`/v1/parties/${key.keyId}`);
    const mine = new Set(party.keys.map((k) => k.key_id));
    const open = answer.received.filter((g) => g.accepted_seq === null && g.revoked_seq === null && g.seq < checkpoint.size);
    for (const g of open) list.append(await offerCard(g, checkpoint, mine));
    status.textContent = open.length ? `${open.length} open offer(s), each verified in this browser.` : "No open offers.";
    status.dataset.count = String(open.length);
  } catch (e) {
    fail(status, e);
  }
}

async function offerCard(summary, checkpoint, mine) {
  const card = el("article", null, { class: "offer panel", "data-grant": summary.grant_id });
  const verified = await verifiedEntry(summary.seq, checkpoint);
  const g = verified.statement;
  if (g.type !== "grant" || g.grant_id !== summary.grant_id) throw new TrustError(`entry ${summary.seq} is not grant ${summary.grant_id}`);
  if (!mine.has(g.buyer)) throw new TrustError(`grant ${g.grant_id} names another buyer`);
  let creator = `${g.signer.slice(0, 16)}…`;
  try { creator = (await getJson(`/v1/parties/${g.signer}`)).pseudonym; } catch { /* shown by key id */ }
  const heading = el("h3", `Offer from ${creator}`);
  heading.id = `offer-${g.grant_id}`;
  card.setAttribute("aria-labelledby", heading.id);
  card.append(heading);
  const facts = el("dl", null, { class: "facts" });
  const total = g.content.reduce((n, c) => n + c.duration_s, 0);
  for (const [dt, dd] of [
    ["Grant", g.grant_id], ["Entry", String(summary.seq)], ["Creator's key", g.signer],
    ["Signed at", g.issued_at], ["Clips", `${g.content.length} clip(s), ${duration(total)} in all`],
    ["Statement hash", verified.hash],
  ]) facts.append(el("dt", dt), el("dd", dd, { class: "wrap" }));
  card.append(facts);
  card.append(el("p", "Every term, in the words of the evidence report:"));
  const terms = el("dl", null, { class: "terms" });
  for (const [topic, sentence] of termClauses(g.terms, VOCAB)) {
    terms.append(el("dt", topic), el("dd", sentence, { "data-term": topic }));
  }
  card.append(terms);
  const details = el("details");
  details.append(el("summary", "The clips"));
  const table = el("table");
  table.append(el("caption", "Clips in this offer"));
  const head = el("tr");
  for (const h of ["SHA-256", "Bytes", "Duration", "Media type"]) head.append(el("th", h, { scope: "col" }));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const c of g.content) table.tBodies[0].append(row([c.sha256, String(c.bytes), duration(c.duration_s), c.media_type]));
  details.append(table);
  card.append(details);
  const reviewed = el("input", null, { type: "checkbox", id: `read-${g.grant_id}` });
  const label = el("label", " I have read every term of this offer", { for: reviewed.id });
  label.prepend(reviewed);
  const accept = el("button", "Accept this offer", { type: "button", class: "signs" });
  accept.disabled = true;
  reviewed.addEventListener("change", () => { accept.disabled = !reviewed.checked || document.body.dataset.distrust === "yes"; });
  const result = el("div", null, { role: "status" });
  accept.addEventListener("click", () => acceptOffer(verified, accept, result, card));
  const line = el("p");
  line.append(label, " ", accept);
  card.append(line, result);
  return card;
}

async function acceptOffer(verified, button, result, card) {
  button.disabled = true;
  try {
    const key = needKey();
    const signed = await L.sign(L.grantAccept(key, verified.hash), key);
    const done = await submitAndVerify([signed]);
    result.replaceChildren("Accepted by entry ", link(`/entries/${done.entries[0].seq}`, String(done.entries[0].seq)), " (its leaf and inclusion verified here).");
    result.className = "ok";
    card.dataset.accepted = String(done.entries[0].seq);
  } catch (e) {
    fail(result, e);
    if (!(e instanceof TrustError)) button.disabled = false;
  }
}

// --- evidence for a dataset -----------------------------------------------------------------------

const HEX64 = /(?:^|[^0-9A-Fa-f])([0-9A-Fa-f]{64})(?![0-9A-Fa-f])/;

// Content hashes from a manifest: `ledger hash --out x.json`, or any text with one hash a line
// (CSV with a sha256 column, sha256sum output); '#' lines and lines without a hash are skipped.
export function manifestHashes(text) {
  const trimmed = text.replace(/^\ufeff/, "").trim();
  if (trimmed.startsWith("{")) {
    const data = JSON.parse(trimmed);
    if (!Array.isArray(data.items)) throw new L.LedgerError("a JSON manifest holds an items list (ledger hash --out FILE.json)");
    return data.items.map((i, n) => {
      if (typeof i.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(i.sha256)) throw new L.LedgerError(`item ${n + 1} has no sha256`);
      return i.sha256.toLowerCase();
    });
  }
  const out = [];
  for (const line of trimmed.split(/\r?\n/)) {
    if (line.startsWith("#")) continue;
    const m = HEX64.exec(line);
    if (m) out.push(m[1].toLowerCase());
  }
  if (out.length === 0) throw new L.LedgerError("no SHA-256 in this manifest");
  return out;
}

async function datasetHashes() {
  const manifest = $("manifest-file").files[0];
  if (manifest) return manifestHashes(await manifest.text());
  const files = Array.from($("dataset-folder").files).filter((f) => !skipReason(f)).sort(byPath);
  if (files.length === 0) throw new L.LedgerError("choose a manifest or a folder");
  const bar = $("dataset-progress");
  bar.max = files.reduce((n, f) => n + f.size, 0) || 1;
  let before = 0;
  const out = [];
  for (const f of files) {
    out.push(await hashFile(f, (done) => { bar.value = before + done; }));
    before += f.size;
  }
  return out;
}

async function getEvidence(event) {
  event.preventDefault();
  const status = $("evidence-status");
  $("evidence-files").hidden = true;
  try {
    const key = needKey();
    const content = [...new Set(await datasetHashes())];
    const question = { buyer: key.keyId, use: $("use").value, content };
    if ($("at").value.trim()) question.at = $("at").value.trim();
    status.textContent = `asking the log about ${content.length} item(s)…`;
    const response = await fetch("/v1/evidence", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(question) });
    const text = await response.text();
    if (!response.ok) throw new L.LedgerError(problemText(response, JSON.parse(text || "null")));
    const bundle = JSON.parse(text);
    const checked = await checkBundle(bundle);
    const licensed = bundle.items.filter((i) => i.licensed).length;
    status.textContent = `${licensed} of ${bundle.items.length} item(s) licensed for ${question.use} (the bundle's checkpoint of size ${checked.size} and every entry's inclusion verified here; ledger verify also checks that nothing was left out).`;
    status.className = "ok";
    status.dataset.licensed = String(licensed);
    status.dataset.items = String(bundle.items.length);
    const pinned = state.log.vkey.text;
    $("bundle-link").href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    for (const fmt of ["html", "pdf"]) {
      const r = await fetch(`/buyer/report?format=${fmt}&log_key=${encodeURIComponent(pinned)}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: text });
      if (!r.ok) throw new L.LedgerError(`the report could not be made (${r.status})`);
      $(`report-${fmt}-link`).href = URL.createObjectURL(await r.blob());
    }
    $("verify-command").textContent = `ledger verify evidence.json --log-key ${pinned} --buyer ${key.keyId} --use ${question.use}`;
    $("evidence-files").hidden = false;
  } catch (e) {
    fail(status, e);
  }
}

// What the page checks of a bundle: its checkpoint signed by the pinned key and consistent with the
// one this browser kept (syncLog first), and each entry's inclusion in it. The map proofs (that no
// entry was left out) are `ledger verify`'s.
async function checkBundle(bundle) {
  const { vkey, checkpoint: kept } = await syncLog();
  const cp = await verifyCheckpoint(bundle.checkpoint, vkey);
  if (cp.size > kept.size) throw new TrustError("the bundle's checkpoint is newer than the log's latest");
  if (cp.size === kept.size && cp.root !== kept.root) throw new TrustError("the bundle's checkpoint forks from the log's");
  if (cp.size < kept.size && cp.size > 0) {
    const proof = await getJson(`/v1/proofs/consistency?first=${cp.size}&second=${kept.size}`);
    if (!(await verifyConsistency(cp.size, kept.size, cp.root, kept.root, proof.hashes))) throw new TrustError("the bundle's checkpoint is not consistent with the log's latest");
  }
  for (const e of bundle.entries) {
    const hash = await leafHash(L.fromB64(e.leaf));
    if (!(await verifyInclusion(e.seq, cp.size, hash, e.inclusion_proof, cp.root))) throw new TrustError(`the bundle's entry ${e.seq} is not included in its checkpoint`);
  }
  return cp;
}

$("offers-refresh").addEventListener("click", refreshOffers);
$("evidence-form").addEventListener("submit", getEvidence);
start(() => refreshOffers());
