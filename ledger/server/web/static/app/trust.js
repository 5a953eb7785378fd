// Trust in the browser, as the CLI's (ledger/client/trust.py): the log key is pinned on first use,
// the last verified checkpoint is kept (localStorage, per log origin), every new checkpoint is
// verified under the pinned key and shown consistent with the last one (RFC 9162 §2.1.4.2), and
// every entry this page submitted is checked to hold exactly what it signed and to be included
// (RFC 9162 §2.1.3.2). Nothing moves the saved state until all of that held.

import {
  LedgerError, STATEMENT_SIGNING_CONTEXT, canonicalize, concat, equalBytes, fromB64, fromHex, hex, sha256, statementHash,
} from "./ledger.js";

export class TrustError extends LedgerError {}

const STATE_PREFIX = "consent-ledger/trust/";
const LEAF_MAGIC = "consent-ledger/leaf/v1\n";
const MAP_LINE = "consent-ledger/map/v1 ";

export function savedState(origin) {
  const text = localStorage.getItem(STATE_PREFIX + origin);
  return text ? JSON.parse(text) : null;
}

function saveState(origin, state) {
  localStorage.setItem(STATE_PREFIX + origin, JSON.stringify(state));
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new LedgerError(problemText(response, body));
  return body;
}

export function problemText(response, body) {
  if (body && body.code) return `${body.title || "refused"} (${response.status}, ${body.code}): ${body.detail || body.message || ""}`;
  return `the log answered ${response.status}`;
}

// --- C2SP signed notes (docs/FORMAT.md §6) -------------------------------------------------------

// A verifier key `name+hhhhhhhh+base64(0x01 || key)`, its note key id checked (§6.3 step 1).
export async function parseVerifierKey(text) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text);
  if (!m) throw new TrustError("malformed log verifier key");
  const [, name, id, body] = m;
  const raw = fromB64(body);
  if (raw.length !== 33 || raw[0] !== 0x01) throw new TrustError("the log verifier key is not an Ed25519 key");
  const keyHash = hex((await sha256(name, "\n", raw)).subarray(0, 4));
  if (keyHash !== id) throw new TrustError("the log verifier key's id does not match its key");
  const key = await crypto.subtle.importKey("raw", raw.subarray(1), "Ed25519", false, ["verify"]);
  return { name, id, key, text };
}

// The checkpoint a note signs, verified under `vkey` (§6.3 steps 2-4): {size, root, text}.
export async function verifyCheckpoint(note, vkey) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new TrustError("the checkpoint is not a signed note");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split("\n");
  if (lines.pop() !== "") throw new TrustError("the checkpoint's signature lines do not end in a newline");
  let verified = false;
  for (const line of lines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new TrustError("malformed signature line in the checkpoint");
    const sig = fromB64(m[2]);
    if (m[1] !== vkey.name || hex(sig.subarray(0, 4)) !== vkey.id) continue; // a witness's
    if (sig.length !== 68) throw new TrustError("malformed log signature in the checkpoint");
    const ok = await crypto.subtle.verify("Ed25519", vkey.key, sig.subarray(4), new TextEncoder().encode(text));
    if (!ok) throw new TrustError("the checkpoint's signature does not verify under the pinned log key");
    verified = true;
  }
  if (!verified) throw new TrustError("the checkpoint is not signed by the pinned log key: has the log's key changed?");
  const body = text.split("\n");
  if (body[0] !== vkey.name) throw new TrustError("the checkpoint's origin is not the log key's name");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(body[1])) throw new TrustError("malformed tree size in the checkpoint");
  const root = fromB64(body[2]);
  if (root.length !== 32) throw new TrustError("malformed root hash in the checkpoint");
  const mapLine = body.find((l) => l.startsWith(MAP_LINE));
  return { size: Number(body[1]), root: hex(root), mapRoot: mapLine ? mapLine.slice(MAP_LINE.length) : null, note };
}

// --- RFC 9162 proofs (docs/FORMAT.md §5) ---------------------------------------------------------

const node = (left, right) => sha256(new Uint8Array([1]), left, right);
const odd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);
const isPowerOfTwo = (n) => { while (n > 1 && n % 2 === 0) n /= 2; return n === 1; };

export async function leafHash(leaf) {
  return sha256(new Uint8Array([0]), leaf);
}

// RFC 9162 §2.1.3.2: is `hash` the leaf at `index` of the tree of `size` whose root is `root`?
export async function verifyInclusion(index, size, hash, proof, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = hash;
  for (const p of proof.map(fromHex)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = await node(p, r);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      r = await node(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(r, fromHex(root));
}

// RFC 9162 §2.1.4.2: does the tree (second, secondRoot) extend (first, firstRoot)?
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (first > second) return false;
  if (first === second) return proof.length === 0 && firstRoot === secondRoot;
  if (first === 0) return proof.length === 0; // the empty tree is extended by every tree
  let path = proof.map(fromHex);
  if (path.length === 0) return false;
  if (isPowerOfTwo(first)) path = [fromHex(firstRoot), ...path];
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      sr = await node(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(fr, fromHex(firstRoot)) && equalBytes(sr, fromHex(secondRoot));
}

// --- the trusted log ------------------------------------------------------------------------------

// The log this page talks to (its own server), checked against what this browser saw before.
// Returns {origin, vkey, checkpoint, pinnedNow}; throws TrustError when the log's key changed,
// its checkpoint does not verify, goes back, or does not extend the last one this browser kept.
export async function syncLog() {
  const info = await getJson("/v1/log");
  const state = savedState(info.origin);
  const pinned = state ? state.logKey : info.verifier_key;
  if (state && info.verifier_key !== state.logKey) {
    throw new TrustError(
      `the log's key changed: this browser pinned ${state.logKey} for ${info.origin}, the server now names ${info.verifier_key}. ` +
        "Do not sign anything for this log until its operator explains the change.",
    );
  }
  const vkey = await parseVerifierKey(pinned);
  if (vkey.name !== info.origin) throw new TrustError("the log key's name is not the log's origin");
  const response = await fetch("/v1/checkpoint");
  if (!response.ok) throw new LedgerError(`no checkpoint from the log (${response.status})`);
  const checkpoint = await verifyCheckpoint(await response.text(), vkey);
  if (state && state.checkpoint) await extendsLast(state.checkpoint, checkpoint);
  saveState(info.origin, { logKey: pinned, checkpoint: { size: checkpoint.size, root: checkpoint.root, note: checkpoint.note } });
  return { origin: info.origin, vkey, checkpoint, pinnedNow: !state };
}

async function extendsLast(last, now) {
  const fork = "the log forked: its new checkpoint does not extend the one this browser verified before";
  if (now.size < last.size) throw new TrustError(`${fork} (it went back from size ${last.size} to ${now.size})`);
  if (now.size === last.size) {
    if (now.root !== last.root) throw new TrustError(`${fork} (two roots for size ${now.size})`);
    return;
  }
  if (last.size === 0) return;
  let proof;
  try {
    proof = await getJson(`/v1/proofs/consistency?first=${last.size}&second=${now.size}`);
  } catch (e) {
    throw new TrustError(`${fork}: ${e.message}`);
  }
  if (!(await verifyConsistency(last.size, now.size, last.root, now.root, proof.hashes))) {
    throw new TrustError(`${fork} (its consistency proof from size ${last.size} to ${now.size} fails)`);
  }
}

// The leaf of entry `seq` holds exactly `signed` (statement bytes and signatures, §4.1), and is
// included in the tree of `checkpoint`. Returns the leaf hash (hex).
export async function verifyLogged(seq, signed, checkpoint) {
  const entry = await getJson(`/v1/entries/${seq}`);
  const leaf = fromB64(entry.leaf);
  const view = new DataView(leaf.buffer, leaf.byteOffset, leaf.byteLength);
  const magic = new TextEncoder().encode(LEAF_MAGIC);
  const n = leaf.length >= 75 ? view.getUint32(71) : -1;
  const sigs = signed.envelope.signatures;
  const expected = concat(
    ...sigs.flatMap((s) => [fromB64(s.public_key), fromB64(s.signature)]),
  );
  if (
    !equalBytes(leaf.subarray(0, 23), magic) ||
    view.getUint32(23) !== 0 || view.getUint32(27) !== seq ||
    n !== signed.bytes.length ||
    !equalBytes(leaf.subarray(75, 75 + n), signed.bytes) ||
    leaf[75 + n] !== sigs.length ||
    !equalBytes(leaf.subarray(76 + n), expected)
  ) {
    throw new TrustError(`entry ${seq} does not hold exactly the statement and signatures this browser signed`);
  }
  const hash = await leafHash(leaf);
  const proof = await getJson(`/v1/proofs/inclusion?seq=${seq}&tree_size=${checkpoint.size}`);
  if (!(await verifyInclusion(seq, checkpoint.size, hash, proof.hashes, checkpoint.root))) {
    throw new TrustError(`entry ${seq}'s inclusion proof does not verify against the checkpoint of size ${checkpoint.size}`);
  }
  return hex(hash);
}

// Submit signed statements, then prove each logged as signed under a new verified checkpoint.
// A 409 duplicate_statement names the entry that already holds it: that entry is then checked.
export async function submitAndVerify(signedList) {
  await syncLog(); // before sending anything: refuse a log that already forked or changed key
  const seqs = [];
  for (const signed of signedList) {
    const response = await fetch("/v1/entries", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(signed.envelope),
    });
    const body = await response.json().catch(() => null);
    if (response.status === 409 && body && body.code === "duplicate_statement" && Number.isInteger(body.seq)) {
      seqs.push(body.seq);
    } else if (!response.ok) {
      throw new LedgerError(problemText(response, body));
    } else {
      seqs.push(body.seq);
    }
  }
  const { checkpoint } = await syncLog();
  const out = [];
  for (const [i, signed] of signedList.entries()) {
    out.push({ seq: seqs[i], hash: signed.hash, leafHash: await verifyLogged(seqs[i], signed, checkpoint) });
  }
  return { checkpoint, entries: out };
}


// Entry `seq` read and checked here, trusting nothing the server says about it: its leaf parsed
// (docs/FORMAT.md §4.1), its statement bytes canonical, every signature verified under the key the
// leaf carries, that key being the statement's signer, and the leaf included in `checkpoint`.
// Returns {statement, bytes, hash (the statement hash, hex), signer}.
export async function verifiedEntry(seq, checkpoint) {
  const entry = await getJson(`/v1/entries/${seq}`);
  const leaf = fromB64(entry.leaf);
  const bad = (why) => new TrustError(`entry ${seq} does not check out: ${why}`);
  if (leaf.length < 76 || !equalBytes(leaf.subarray(0, 23), new TextEncoder().encode(LEAF_MAGIC))) throw bad("not a leaf");
  const view = new DataView(leaf.buffer, leaf.byteOffset, leaf.byteLength);
  const n = view.getUint32(71);
  const count = leaf[75 + n];
  if (view.getUint32(23) !== 0 || view.getUint32(27) !== seq) throw bad("its leaf names another seq");
  if (!(count === 1 || count === 2) || leaf.length !== 76 + n + 96 * count) throw bad("malformed leaf");
  const bytes = leaf.slice(75, 75 + n);
  let statement;
  try {
    statement = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("its statement is not JSON");
  }
  if (!equalBytes(canonicalize(statement), bytes)) throw bad("its statement bytes are not canonical");
  const message = concat(STATEMENT_SIGNING_CONTEXT, bytes);
  for (let i = 0; i < count; i++) {
    const at = 76 + n + 96 * i;
    const raw = leaf.slice(at, at + 32);
    if (i === 0 && hex(await sha256(raw)) !== statement.signer) throw bad("it is not signed by its signer");
    const key = await crypto.subtle.importKey("raw", raw, "Ed25519", false, ["verify"]);
    if (!(await crypto.subtle.verify("Ed25519", key, leaf.slice(at + 32, at + 96), message))) throw bad("a signature does not verify");
  }
  const proof = await getJson(`/v1/proofs/inclusion?seq=${seq}&tree_size=${checkpoint.size}`);
  if (!(await verifyInclusion(seq, checkpoint.size, await leafHash(leaf), proof.hashes, checkpoint.root))) {
    throw bad(`its inclusion proof does not verify against the checkpoint of size ${checkpoint.size}`);
  }
  return { statement, bytes, hash: await statementHash(bytes), signer: statement.signer };
}
