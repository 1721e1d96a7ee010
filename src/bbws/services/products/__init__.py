"""The products API: a tenant's catalogue, its listing indexes and product images.

api         create_app(settings): the routes under /v1.0/products (builds nothing on import)
handler     the Lambda entry point (reads the environment when imported)
models      request and response bodies
items       the DynamoDB item layout (read it before touching the table)
repository  single-item reads and writes (re-exports ``stock``)
stock       inventory changes as entries of the orders service's transaction
listing     GET /products: which index serves which filters, signed cursors
bulk        POST and PATCH /products/bulk, with per-item results
images      multipart parsing, type detection by magic bytes, the S3 object
etags       ETag / If-Match
"""
