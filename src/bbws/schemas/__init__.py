"""Foundation stacks as code: DynamoDB tables (dynamodb) and S3 buckets (s3).

Both stacks share one contract (see ``common``)::

    plan(target, session=None) -> list[Change]     # desired vs the live account
    apply(target, changes, allow_destructive=False, session=None) -> list[Change]
    drift(target, session=None) -> list[Change]    # what was changed by hand
"""
