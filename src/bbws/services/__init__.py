"""The shared layer of the BBWS APIs (products, campaigns, orders).

Every service builds its resolver with :func:`bbws.services.app.make_app` and its Lambda
entry point with :func:`bbws.services.app.build_handler`; the modules here are:

    config       typed settings from the function's environment, cached per cold start
    auth         Bearer RS256 JWT against a JWKS, the request's Principal
    errors       one error tree, rendered as {"error": {"code", "message", "details"}}
    app          make_app / build_handler: headers, auth, body checks, faults, logs, metrics
    pagination   signed opaque cursors over DynamoDB's LastEvaluatedKey
    ids          ULID ids for new items, validation of path ids
    idempotency  Powertools idempotency stored in the orders table
    openapi      the generated OpenAPI document, corrected to what the API answers
    _guard       (internal) the checks make_app runs before every route

This file stays import-free so that importing one module does not load the others.
"""
