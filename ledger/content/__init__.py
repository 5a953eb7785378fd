"""A creator's file tools, on the creator's machine: streaming hashes (``hashing``), media types
and durations (``media``), and manifests of clips (``manifest``). No network, no server."""
