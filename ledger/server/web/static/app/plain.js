// A grant's terms in plain language: the evidence report's own sentences (ledger/report/plain.py,
// term_clauses), written again here because a buyer must read them from the statement this
// browser verified, not from the server's words. tests/web/test_app.py holds the two to the same
// output for every kind of term; the words for uses and prohibitions come from the page's
// vocabulary, which the server takes from plain.py itself.

export function joinWords(words, conjunction = "and") {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} ${conjunction} ${words[words.length - 1]}`;
}

const UNIT_WORDS = { per_minute: "per minute", per_clip: "per clip" };

function paymentClause(c) {
  const money = `${c.amount} ${c.currency}`; // the amount exactly as signed (§3.2.4: no exponent)
  return c.unit === "flat" ? `a flat fee of ${money}` : `${money} ${UNIT_WORDS[c.unit] || c.unit}`;
}

function revocationClause(terms) {
  if (!terms.revocable) return "irrevocable";
  if (!terms.notice_days) return "revocable without notice";
  return terms.notice_days === 1 ? "revocable with 1 day's notice" : `revocable with ${terms.notice_days} days' notice`;
}

// [topic, sentence] pairs in the report's order. `vocab` is the page's #vocabulary.
export function termClauses(terms, vocab) {
  const useWords = Object.fromEntries(vocab.uses);
  const prohibitionWords = Object.fromEntries(vocab.prohibitions);
  const order = vocab.uses.map(([u]) => u);
  const allowed = order.filter((u) => terms.uses.includes(u));
  const refused = order.filter((u) => !terms.uses.includes(u));
  let uses = "may be used for " + joinWords(allowed.map((u) => useWords[u]));
  if (refused.length) uses += "; not for " + joinWords(refused.map((u) => useWords[u]), "or");
  const prohibited = terms.prohibitions.map((p) => prohibitionWords[p] || p);
  const territory = terms.territory;
  return [
    ["Uses", uses],
    ["Prohibited", prohibited.length ? "not for " + joinWords(prohibited, "or") : "no further prohibitions"],
    ["Territory", territory.length === 1 && territory[0] === "worldwide" ? "worldwide" : "in " + joinWords(territory)],
    ["Term", terms.end === undefined ? `from ${terms.start}, with no end date` : `from ${terms.start} up to (not including) ${terms.end}`],
    ["Revocation", revocationClause(terms)],
    ["Exclusivity", terms.exclusive ? "exclusive" : "non-exclusive"],
    ["Payment", paymentClause(terms.consideration)],
    ["Attribution", terms.attribution ? "attribution required" : "no attribution required"],
    ["Sublicensing", terms.sublicensing ? "sublicensing allowed" : "no sublicensing"],
  ];
}
