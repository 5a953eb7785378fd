"""Read use cases, JSON-ready: the HTTP views call these and nothing else to read.

- ``published`` — which tree a read may show: ``signed_size`` (the /v1 log API) or
  ``published_checkpoint`` (the tlog API, proof files, evidence); read it before the others;
- ``log`` — entries, pages, checkpoints, proofs and the log's identity;
- ``search`` — parties by key, grants by id, grants by content;
- ``evidence`` — content status answers and evidence bundles;
- ``tlog`` — tiles, entry bundles and proof files (c2sp.org/tlog-tiles, tlog-proof).
"""
