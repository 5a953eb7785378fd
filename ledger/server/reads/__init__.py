"""Read use cases, JSON-ready: the HTTP views call these and nothing else to read.

- ``log`` — entries, pages, checkpoints, proofs, log info, search;
- ``evidence`` — content status answers and evidence bundles;
- ``tlog`` — tiles, entry bundles and proof files (c2sp.org/tlog-tiles, tlog-proof).
"""
