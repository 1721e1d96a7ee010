"""The orders workers: plain Lambda handlers, each a class built once per cold start.

    events.handler        SQS, order events: confirms new orders (pending → confirmed),
                          partial batch failures so the queue's redrive policy applies
    confirmation.handler  SQS, order confirmed: renders order_confirmation, sends via SES
    replay.handler        manual / scheduled: moves DLQ messages back to the queue
    export.handler        nightly: each tenant's orders of a day → exports/{tenant}/{date}.jsonl
    sweeper.handler       scheduled: cancels and restocks stale pending orders

Each module's ``handler`` reads its settings (``config.WorkerSettings``) on first use;
tests build the classes with their own clients instead.
"""
