// What the desks (/creator, /buyer) share: the log's trust box, the key section (create, import,
// choose), and small DOM helpers that only ever set text (never markup).

import * as L from "./ledger.js";
import { TrustError, syncLog } from "./trust.js";

export const $ = (id) => document.getElementById(id);
export const VOCAB = JSON.parse($("vocabulary").textContent);
export const PATTERN = Object.fromEntries(Object.entries(VOCAB.patterns).map(([k, p]) => [k, new RegExp(`^(?:${p})$`)]));
export const state = { keys: [], key: null, log: null, onKey: () => {} };

export function show(el, text, kind) {
  el.hidden = !text;
  el.textContent = text || "";
  if (kind) el.className = kind;
}

export function fail(el, error) {
  show(el, error instanceof Error ? error.message : String(error), "problem");
  if (error instanceof TrustError) trustFailed(error);
}

export function trustFailed(error) {
  show($("trust-error"), `Do not trust this log: ${error.message}`, "problem");
  for (const button of document.querySelectorAll("button.signs")) button.disabled = true;
  document.body.dataset.distrust = "yes";
}

export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

export function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

// --- the log --------------------------------------------------------------------------------------

export async function checkLog() {
  try {
    state.log = await syncLog();
    const { origin, vkey, checkpoint, pinnedNow } = state.log;
    const box = $("trust");
    box.replaceChildren();
    const p = document.createElement("p");
    p.textContent = `Log ${origin}, key ${vkey.text} (${pinnedNow ? "trusted on first use and pinned in this browser now: check it with the log's operator" : "pinned in this browser"}); last verified checkpoint: size ${checkpoint.size}.`;
    p.dataset.field = "trust";
    p.dataset.size = String(checkpoint.size);
    box.append(p);
    $("trust-error").hidden = true;
  } catch (e) {
    show($("trust"), "");
    trustFailed(e instanceof Error ? e : new Error(String(e)));
  }
}

// --- keys -----------------------------------------------------------------------------------------

export async function refreshKeys(select) {
  state.keys = await L.loadKeys();
  const menu = $("key-select");
  menu.replaceChildren();
  for (const k of state.keys) {
    const option = document.createElement("option");
    option.value = k.keyId;
    option.textContent = `${k.keyId.slice(0, 16)}… (${k.origin || "made here"}, ${k.created})`;
    menu.append(option);
  }
  if (select) menu.value = select;
  state.key = state.keys.find((k) => k.keyId === menu.value) || null;
  $("key-current").textContent = state.key ? `Signing with key ${state.key.keyId}` : "No key in this browser yet.";
  $("key-current").dataset.keyId = state.key ? state.key.keyId : "";
  state.onKey(state.key);
}

export async function createKey(event) {
  event.preventDefault();
  const out = $("backup");
  try {
    const pass = $("create-pass").value;
    if (pass.length < 8) throw new L.LedgerError("choose a passphrase of at least 8 characters for the backup");
    if (pass !== $("create-pass2").value) throw new L.LedgerError("the two passphrases differ; no key made");
    const { key, backup } = await L.createKey(pass);
    key.origin = "made here";
    await L.saveKey(key);
    const a = $("backup-link");
    a.href = URL.createObjectURL(new Blob([backup], { type: "application/x-pem-file" }));
    a.download = `consent-ledger-${key.keyId.slice(0, 16)}.pem`;
    out.hidden = false;
    out.className = "ok";
    $("create-form").reset();
    await refreshKeys(key.keyId);
  } catch (e) {
    fail(out, e);
  }
}

export async function importKey(event) {
  event.preventDefault();
  const result = $("key-current");
  try {
    const file = $("import-file").files[0];
    if (!file) throw new L.LedgerError("choose the key file to import");
    const key = await L.importPem(await file.text(), $("import-pass").value);
    key.origin = `imported from ${file.name}`;
    await L.saveKey(key);
    $("import-form").reset();
    await refreshKeys(key.keyId);
  } catch (e) {
    fail(result, e);
  }
}

export function needKey() {
  if (!state.key) throw new L.LedgerError("create or import a key first (step 1)");
  return state.key;
}


// Wire the shared sections; `onKey(key)` runs whenever the key in use changes.
export function start(onKey) {
  state.onKey = onKey;
  $("create-form").addEventListener("submit", createKey);
  $("import-form").addEventListener("submit", importKey);
  $("key-select").addEventListener("change", () => refreshKeys($("key-select").value));
  document.body.dataset.ready = "loading";
  return Promise.all([checkLog(), refreshKeys()]).finally(() => { document.body.dataset.ready = "yes"; });
}
