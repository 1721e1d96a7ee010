"""Lambda@Edge functions for the BBWS customer portal distribution.

Each module exposes ``handler(event, context)`` over the real CloudFront event shape:

    security_headers  viewer-response  adds the runbook's security headers
    url_rewrite       origin-request   SPA routes -> /index.html, assets untouched
    redirects         viewer-request   www. -> apex and http -> https, both 301
    auth_validation   viewer-request   on the protected behaviours: the redirects above, then
                                       an RS256 JWT check (one viewer-request function each)

This package is zipped as-is into the functions (``bbws.backend_public`` builds the zips), so
it must stay import-free here and depend only on the standard library, plus PyJWT and the
pure-Python ``rsa`` for ``auth_validation``: viewer-trigger zips must stay under 1 MB and load
on any CPython, which compiled packages such as ``cryptography`` cannot. Lambda@Edge has no
environment variables: any configuration is a JSON file bundled next to the module at deploy
time.
"""
