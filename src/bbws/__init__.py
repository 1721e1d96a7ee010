"""The BBWS estate: its foundation stacks, edge functions, site and API services.

This package is the reference user of promote. It does not import promote: the
engine drives it through entry points such as ``bbws.schemas.dynamodb:apply``.
"""
