"""The orders service: an HTTP API (``api``, ``handler``) and five event-driven workers.

model         request and order shapes, statuses and their transitions
items         the order's item layout in the orders table
catalog       the products an order names, read with the products service's item layout
pricing       lines and totals from catalogue prices (pure)
store         get, list and status moves of orders
transactions  place and cancel: one TransactWriteItems over the order and its stock (the
              products service's reserve_stock / release_stock entries); discounts from
              the campaigns service's active_discounts
api           create_app(settings): the six routes; handler: the Lambda entry point
workers       order events consumer, confirmation sender, DLQ replay, nightly export,
              stale-order sweeper (see ``workers/__init__.py``)
"""
