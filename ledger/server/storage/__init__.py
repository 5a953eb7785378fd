"""Storage: engines and transactions (``db``), ORM rows (``models``), append and read
(``repository``), and PostgreSQL waits under gevent (``green``). Decides nothing."""
