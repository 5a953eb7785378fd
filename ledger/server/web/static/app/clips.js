// Footage, read in this browser only: streamed SHA-256, size, media type and duration, as
// `ledger hash` reads them (ledger/content/hashing.py, ledger/content/media.py). Nothing of a
// file leaves the page: only its hash, size, media type and duration go into a grant.
//
// SHA-256 is hash-wasm's (vendored: static/vendor/README.md), because WebCrypto's digest takes
// the whole input at once and cannot stream a file of gigabytes.

const CHUNK = 8 * 1024 * 1024;
const SNIFF_BYTES = 192;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$/;
const BRANDS = {
  "qt  ": "video/quicktime", "M4V ": "video/x-m4v", "M4VH": "video/x-m4v", "M4VP": "video/x-m4v",
  "M4A ": "audio/mp4", "M4B ": "audio/mp4", "3gp4": "video/3gpp", "3gp5": "video/3gpp",
  "3g2a": "video/3gpp2", heic: "image/heic", avif: "image/avif",
};
const MAGIC = [
  [[0x1a, 0x45, 0xdf, 0xa3], "video/x-matroska"], [[0x4f, 0x67, 0x67, 0x53], "application/ogg"],
  [[0x66, 0x4c, 0x61, 0x43], "audio/flac"], [[0x49, 0x44, 0x33], "audio/mpeg"],
  [[0xff, 0xd8, 0xff], "image/jpeg"], [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "image/png"],
  [[0x47, 0x49, 0x46, 0x38], "image/gif"], [[0x25, 0x50, 0x44, 0x46, 0x2d], "application/pdf"],
  [[0x00, 0x00, 0x01, 0xba], "video/mpeg"], [[0x00, 0x00, 0x01, 0xb3], "video/mpeg"],
];
const RIFF = { "AVI ": "video/x-msvideo", WAVE: "audio/wav", WEBP: "image/webp" };
const ascii = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, to));
const MAX_BOXES = 100000;

// Streamed SHA-256 of a File (or Blob), calling progress(doneBytes) as it goes. Hex.
export async function hashFile(file, progress = () => {}) {
  const hasher = await globalThis.hashwasm.createSHA256();
  hasher.init();
  const reader = file.stream().getReader();
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    hasher.update(value);
    done += value.length;
    progress(done);
  }
  return hasher.digest("hex");
}

// The media type from the first bytes (magic numbers), then the browser's guess from the name.
export function mediaType(head, file) {
  let sniffed = sniff(head);
  if (sniffed === "video/x-matroska" && file.name.toLowerCase().endsWith(".webm")) sniffed = "video/webm";
  if (!sniffed && file.type) sniffed = file.type.toLowerCase();
  return sniffed && MEDIA_TYPE.test(sniffed) ? sniffed : null;
}

function sniff(head) {
  if (ascii(head, 4, 8) === "ftyp") return BRANDS[ascii(head, 8, 12)] || "video/mp4";
  if (ascii(head, 0, 4) === "RIFF") return RIFF[ascii(head, 8, 12)] || null;
  if (head.length > 188 && head[0] === 0x47 && head[188] === 0x47) return "video/mp2t";
  for (const [magic, kind] of MAGIC) if (magic.every((b, i) => head[i] === b)) return kind;
  return null;
}

async function bytesAt(file, start, length) {
  return new Uint8Array(await file.slice(start, start + length).arrayBuffer());
}

// Whole seconds (rounded up) from moov/mvhd of an ISO BMFF file (ISO/IEC 14496-12 §8.2.2), or null.
export async function mp4Duration(file) {
  const moov = await findBox(file, 0, file.size, "moov");
  const mvhd = moov && (await findBox(file, moov[0], moov[1], "mvhd"));
  if (!mvhd) return null;
  const body = await bytesAt(file, mvhd[0], Math.min(mvhd[1] - mvhd[0], 32));
  const view = new DataView(body.buffer);
  let timescale, duration, unknown;
  if (body[0] === 1 && body.length >= 32) {
    timescale = view.getUint32(20);
    duration = view.getBigUint64(24);
    unknown = 2n ** 64n - 1n;
  } else if (body[0] === 0 && body.length >= 20) {
    timescale = view.getUint32(12);
    duration = BigInt(view.getUint32(16));
    unknown = 2n ** 32n - 1n;
  } else {
    return null;
  }
  if (timescale === 0 || duration === unknown) return null;
  const ts = BigInt(timescale);
  return Number((duration + ts - 1n) / ts);
}

async function findBox(file, start, end, kind) {
  let offset = start;
  for (let i = 0; i < MAX_BOXES; i++) {
    if (offset + 8 > end) return null;
    const header = await bytesAt(file, offset, 16);
    if (header.length < 8) return null;
    const view = new DataView(header.buffer);
    let size = view.getUint32(0);
    const type = ascii(header, 4, 8);
    let payload = offset + 8;
    if (size === 1) {
      if (header.length < 16) return null;
      size = Number(view.getBigUint64(8));
      payload = offset + 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < payload - offset || offset + size > end) return null;
    if (type === kind) return [payload, offset + size];
    offset += size;
  }
  return null;
}

// What `ledger hash` leaves out of a folder: hidden files and folders, and empty files.
// A file chosen by itself is taken even if hidden, as one named on ledger hash's command line;
// in a chosen folder, a hidden file or one under a hidden folder is not (the folder itself may be).
export function skipReason(file) {
  const below = file.webkitRelativePath ? file.webkitRelativePath.split("/").slice(1) : [];
  if (below.some((part) => part.startsWith("."))) return "hidden";
  if (file.size === 0) return "empty";
  return null;
}

// Files in ledger hash's order: each folder's entries by name (code units, not locale), so
// paths compare part by part ("a/x" before "a-b/x").
export function byPath(a, b) {
  const x = (a.webkitRelativePath || a.name).split("/");
  const y = (b.webkitRelativePath || b.name).split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

// One clip read locally: {name, sha256, bytes, duration_s, media_type}.
export async function readClip(file, progress) {
  const head = await bytesAt(file, 0, SNIFF_BYTES);
  const type = mediaType(head, file);
  const isBmff = ["ftyp", "moov", "mdat", "free", "wide", "skip"].includes(ascii(head, 4, 8));
  const duration = isBmff ? await mp4Duration(file) : null;
  const sha256 = await hashFile(file, progress);
  return { name: file.webkitRelativePath || file.name, sha256, bytes: file.size, duration_s: duration, media_type: type };
}
