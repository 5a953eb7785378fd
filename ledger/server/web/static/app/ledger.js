// Consent Ledger in the browser: bytes, RFC 8785 canonical JSON, v1 statements, Ed25519 keys.
//
// The byte contract is docs/FORMAT.md; this file follows ledger/core/canonical.py (§1.6),
// ledger/core/statements (§3) and ledger/core/keys.py (§2). tests/web/test_app.py checks that
// what it produces is byte for byte what the core produces. Private keys are WebCrypto Ed25519
// CryptoKeys that cannot be extracted; the one moment key material exists in this page is when a
// key is created, to write its passphrase-protected backup (docs: README, "Creators in the
// browser").

export const STATEMENT_SIGNING_CONTEXT = "consent-ledger/v1/statement-signature\n";
export const STATEMENT_HASH_CONTEXT = "consent-ledger/v1/statement-hash\n";
export const STATEMENT_VERSION = 1;
export const MAX_LEAF_SIZE = 65535;
const MAX_DEPTH = 32;
const utf8 = new TextEncoder();

export class LedgerError extends Error {}

// --- bytes ---------------------------------------------------------------------------------------

export function concat(...parts) {
  const chunks = parts.map((p) => (typeof p === "string" ? utf8.encode(p) : p));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) throw new LedgerError(`not lowercase hex: ${text.slice(0, 20)}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromB64(text) {
  let s;
  try { s = atob(text); } catch { throw new LedgerError("not base64"); }
  const out = Uint8Array.from(s, (c) => c.charCodeAt(0));
  if (b64(out) !== text) throw new LedgerError("not canonical base64");
  return out;
}

export function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

// --- RFC 8785 (JCS) ------------------------------------------------------------------------------

// The canonical bytes of a JSON value: what is signed and hashed (docs/FORMAT.md §1.6). Only the
// values a statement may hold: strings without lone surrogates, safe integers, booleans, null,
// arrays and objects. ECMAScript's JSON.stringify writes strings exactly as RFC 8785 §3.2.2.2
// says (JCS was defined on it), and Array.prototype.sort orders member names by UTF-16 code
// units (§3.2.3); numbers other than safe integers are refused, never rounded.
export function canonicalize(value) {
  return utf8.encode(jcs(value, 0));
}

function jcs(value, depth) {
  if (value === null) return "null";
  if (value === true || value === false) return String(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new LedgerError(`cannot canonicalize the number ${value}: only integers up to 2^53 - 1`);
    return String(value); // shortest decimal form; -0 is written 0, as in JCS
  }
  if (typeof value === "string") return jcsString(value);
  if (typeof value !== "object") throw new LedgerError(`cannot canonicalize a ${typeof value}`);
  if (depth >= MAX_DEPTH) throw new LedgerError(`nesting deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) return "[" + value.map((v) => jcs(v, depth + 1)).join(",") + "]";
  const names = Object.keys(value).sort();
  return "{" + names.map((n) => jcsString(n) + ":" + jcs(value[n], depth + 1)).join(",") + "}";
}

function jcsString(text) {
  if (!text.isWellFormed()) throw new LedgerError("cannot canonicalize: string contains a lone surrogate");
  return JSON.stringify(text);
}

// --- statements (docs/FORMAT.md §3) --------------------------------------------------------------

export function timestamp(date) {
  if (Number.isNaN(date.getTime())) throw new LedgerError("not a date");
  return date.toISOString().slice(0, 19) + "Z"; // UTC, whole seconds (§1.2)
}

export function newNonce() {
  return hex(crypto.getRandomValues(new Uint8Array(16)));
}

export function newGrantId() {
  return crypto.randomUUID(); // lowercase 8-4-4-4-12
}

function common(type, key, issuedAt) {
  return { type, v: STATEMENT_VERSION, signer: key.keyId, issued_at: timestamp(issuedAt || new Date()), nonce: newNonce() };
}

export function partyRegister(key, pseudonym, issuedAt) {
  return { ...common("party.register", key, issuedAt), public_key: key.publicKey, pseudonym };
}

export function grant(key, buyer, grantId, items, terms, issuedAt) {
  return { ...common("grant", key, issuedAt), grant_id: grantId, buyer, content: items, terms };
}

// As few grants as needed so that each one's leaf fits MAX_LEAF_SIZE (ledger.core.builders
// grants_for_items, the CLI's rule): items keep their order and are packed greedily by their
// canonical size, each grant with its own id; a grant that still does not fit is split in two.
export function grantsForItems(key, buyer, items, terms, issuedAt = new Date()) {
  if (items.length === 0) throw new LedgerError("a grant needs at least one content item");
  const leaf = (statement) => 76 + canonicalize(statement).length + 96; // one signature
  const make = (chunk) => {
    const statement = grant(key, buyer, newGrantId(), chunk, terms, issuedAt);
    if (leaf(statement) <= MAX_LEAF_SIZE) return [statement];
    if (chunk.length === 1) throw new LedgerError(`content item ${chunk[0].sha256} alone does not fit in a leaf`);
    const half = Math.floor(chunk.length / 2);
    return [...make(chunk.slice(0, half)), ...make(chunk.slice(half))];
  };
  const sizes = items.map((item) => canonicalize(item).length);
  const overhead = leaf(grant(key, buyer, newGrantId(), items.slice(0, 1), terms, issuedAt)) - sizes[0];
  const chunks = [[]];
  let used = overhead;
  items.forEach((item, i) => {
    let extra = sizes[i] + (chunks[chunks.length - 1].length ? 1 : 0); // a comma between members
    if (chunks[chunks.length - 1].length && used + extra > MAX_LEAF_SIZE) {
      chunks.push([]);
      used = overhead;
      extra = sizes[i];
    }
    chunks[chunks.length - 1].push(item);
    used += extra;
  });
  return chunks.flatMap(make);
}

export function grantAccept(key, grantHash, issuedAt) {
  return { ...common("grant.accept", key, issuedAt), grant_hash: grantHash };
}

export function grantRevoke(key, grantHash, effectiveAt, issuedAt) {
  return { ...common("grant.revoke", key, issuedAt), grant_hash: grantHash, effective_at: timestamp(effectiveAt) };
}

// SHA-256(STATEMENT_HASH_CONTEXT || statement bytes), hex (§3.4).
export async function statementHash(statementBytes) {
  return hex(await sha256(STATEMENT_HASH_CONTEXT, statementBytes));
}

// The envelope of §3.5, signed by `key` over STATEMENT_SIGNING_CONTEXT || canonical bytes.
export async function sign(statement, key) {
  const bytes = canonicalize(statement);
  const message = concat(STATEMENT_SIGNING_CONTEXT, bytes);
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", key.privateKey, message));
  return {
    bytes,
    hash: await statementHash(bytes),
    envelope: { statement, signatures: [{ public_key: key.publicKey, signature: b64(signature) }] },
  };
}

// The size of the leaf a signed statement makes (§4.1): what must fit MAX_LEAF_SIZE.
export function leafSize(signed) {
  return 76 + signed.bytes.length + 96 * signed.envelope.signatures.length;
}

// --- keys (docs/FORMAT.md §2; PKCS8 PEM as `ledger keygen` writes it) ----------------------------

// A key ready to sign: its non-extractable private CryptoKey, base64 raw public key and key id.
export async function keyRecord(privateKey, rawPublic, extra = {}) {
  return { privateKey, publicKey: b64(rawPublic), keyId: hex(await sha256(rawPublic)), ...extra };
}

// A new Ed25519 key made here, and its passphrase-protected backup: the PEM text `ledger` reads.
// The key is generated extractable only long enough to write the backup, then imported again as a
// non-extractable key: the stored key can sign but never be read out, here or by any script.
export async function createKey(passphrase) {
  const pair = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  try {
    const backup = await encryptPkcs8(pkcs8, passphrase);
    const rawPublic = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", false, ["sign"]);
    return { key: await keyRecord(privateKey, rawPublic, { created: timestamp(new Date()) }), backup };
  } finally {
    pkcs8.fill(0);
  }
}

// A key from a PKCS8 PEM file (`ledger keygen`'s, encrypted or not), stored non-extractable.
export async function importPem(text, passphrase) {
  const encrypted = text.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----");
  const plain = text.includes("-----BEGIN PRIVATE KEY-----");
  if (!encrypted && !plain) throw new LedgerError("not a PKCS8 PEM private key (ledger keygen writes one)");
  if (encrypted && !passphrase) throw new LedgerError("the key is encrypted: a passphrase is needed");
  if (plain && passphrase) throw new LedgerError("the key is not encrypted: give no passphrase");
  const der = pemBody(text, encrypted ? "ENCRYPTED PRIVATE KEY" : "PRIVATE KEY");
  const pkcs8 = encrypted ? await decryptPkcs8(der, passphrase) : der;
  try {
    let jwk;
    try {
      // Extractable for one step only: WebCrypto gives a private key's public half through JWK.
      const probe = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
      jwk = await crypto.subtle.exportKey("jwk", probe);
    } catch {
      throw new LedgerError("the PEM file does not hold an Ed25519 private key");
    }
    const rawPublic = fromB64(jwk.x.replace(/-/g, "+").replace(/_/g, "/") + "=");
    jwk.d = "";
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", false, ["sign"]);
    return keyRecord(privateKey, rawPublic, { created: timestamp(new Date()) });
  } finally {
    pkcs8.fill(0);
  }
}

function pemBody(text, label) {
  const found = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!found) throw new LedgerError(`no ${label} block in the PEM text`);
  return fromB64(found[1].replace(/\s+/g, ""));
}

function pem(label, der) {
  const lines = b64(der).match(/.{1,64}/g);
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// --- PKCS#8 EncryptedPrivateKeyInfo, PBES2 (RFC 8018): what `cryptography` writes and reads -----

// The object identifiers, as the hex of their DER contents.
const OID = {
  pbes2: "2a864886f70d01050d",
  pbkdf2: "2a864886f70d01050c",
  hmacWithSHA1: "2a864886f70d0207",
  hmacWithSHA256: "2a864886f70d0209",
  aes128cbc: "608648016503040102",
  aes256cbc: "60864801650304012a",
};
// PBKDF2 rounds of a backup written here (OWASP's figure for PBKDF2-HMAC-SHA256).
export const BACKUP_ITERATIONS = 600000;

function der(tag, content) {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return concat(new Uint8Array([tag, ...len]), content);
}
const seq = (...parts) => der(0x30, concat(...parts));
const oid = (name) => der(0x06, fromHex(OID[name]));
const octets = (bytes) => der(0x04, bytes);

function derInteger(n) {
  const bytes = [];
  do { bytes.unshift(n & 0xff); n = Math.floor(n / 256); } while (n > 0);
  if (bytes[0] & 0x80) bytes.unshift(0);
  return der(0x02, new Uint8Array(bytes));
}

// One DER element at `at`: {tag, content, end}. Throws on anything malformed.
function readDer(bytes, at = 0) {
  if (at + 2 > bytes.length) throw new LedgerError("truncated DER");
  const tag = bytes[at];
  let len = bytes[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count < 1 || count > 3) throw new LedgerError("bad DER length");
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + bytes[start + i];
    start += count;
  }
  if (start + len > bytes.length) throw new LedgerError("truncated DER");
  return { tag, content: bytes.subarray(start, start + len), end: start + len };
}

function children(element) {
  const out = [];
  for (let at = 0; at < element.content.length;) {
    const child = readDer(element.content, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

function derToInt(content) {
  return content.reduce((n, b) => n * 256 + b, 0);
}

async function pbes2Key(passphrase, salt, iterations, prf, keyBits) {
  const base = await crypto.subtle.importKey("raw", utf8.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", salt, iterations, hash: prf },
    base,
    { name: "AES-CBC", length: keyBits },
    false,
    ["encrypt", "decrypt"],
  );
}

async function encryptPkcs8(pkcs8, passphrase) {
  if (!passphrase) throw new LedgerError("a backup needs a passphrase");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(16));
  const key = await pbes2Key(passphrase, salt, BACKUP_ITERATIONS, "SHA-256", 256);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv }, key, pkcs8));
  const params = seq(
    oid("pbes2"),
    seq(
      seq(oid("pbkdf2"), seq(octets(salt), derInteger(BACKUP_ITERATIONS), seq(oid("hmacWithSHA256"), der(0x05, new Uint8Array())))),
      seq(oid("aes256cbc"), octets(iv)),
    ),
  );
  return pem("ENCRYPTED PRIVATE KEY", seq(params, octets(sealed)));
}

async function decryptPkcs8(bytes, passphrase) {
  const fail = () => new LedgerError("not an encrypted PKCS8 key this page can read (PBES2, PBKDF2, AES-CBC)");
  let parsed;
  try {
    const [algorithm, sealed] = children(readDer(bytes));
    const [scheme, params] = children(algorithm);
    if (hex(scheme.content) !== OID.pbes2) throw fail();
    const [kdf, cipher] = children(params);
    const [kdfOid, kdfParams] = children(kdf);
    if (hex(kdfOid.content) !== OID.pbkdf2) throw fail();
    const [salt, rounds, ...rest] = children(kdfParams);
    const prfOid = rest.find((e) => e.tag === 0x30);
    const prfHex = prfOid ? hex(children(prfOid)[0].content) : OID.hmacWithSHA1; // RFC 8018 default
    const prf = { [OID.hmacWithSHA1]: "SHA-1", [OID.hmacWithSHA256]: "SHA-256" }[prfHex];
    const [cipherOid, iv] = children(cipher);
    const bits = { [OID.aes128cbc]: 128, [OID.aes256cbc]: 256 }[hex(cipherOid.content)];
    if (!prf || !bits || iv.content.length !== 16) throw fail();
    parsed = { salt: salt.content, iterations: derToInt(rounds.content), prf, bits, iv: iv.content, sealed: sealed.content };
  } catch (e) {
    throw e instanceof LedgerError && e.message.startsWith("not an") ? e : fail();
  }
  const key = await pbes2Key(passphrase, parsed.salt, parsed.iterations, parsed.prf, parsed.bits);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CBC", iv: parsed.iv }, key, parsed.sealed));
  } catch {
    throw new LedgerError("wrong passphrase");
  }
}

// --- where keys live: IndexedDB, as non-extractable CryptoKeys ------------------------------------

const DB_NAME = "consent-ledger";
const STORE = "keys";

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "keyId" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function inStore(mode, act) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export function saveKey(key) {
  if (key.privateKey.extractable) throw new LedgerError("refusing to store an extractable key");
  return inStore("readwrite", (store) => store.put(key));
}

export function loadKeys() {
  return inStore("readonly", (store) => store.getAll());
}

export function forgetKey(keyId) {
  return inStore("readwrite", (store) => store.delete(keyId));
}
