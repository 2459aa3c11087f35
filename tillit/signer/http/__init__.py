"""The signer's HTTP API (FastAPI): `app.create_app` builds it from the routers in `routers/`.

Handlers are thin: they authenticate, parse, and call `Signer`. Blocking work (SQLite writes,
Argon2, the HSM) runs in the thread pool: the busy endpoints are coroutines that hand their whole
work to the pool in one hop (`pool.blocking`), the rest are `def` handlers. Lookups that only read
SQLite (the kiosk's token, the phone's long-poll) run on the event loop itself: a read never waits
for the writer (WAL), so they cost less than a hop to the pool and a phone is woken without
queueing behind Argon2 work. A waiting phone holds no thread.

In front of FastAPI's stack: the front door (`middleware.BodyLimits`: every route's body limit and
the latency metric) and the order path (`order_path`), which answers the requests every order makes
by calling the same endpoints FastAPI would, found in FastAPI's route table.
"""
