"""Item ids: ULIDs, so ``sk = "<ENTITY>#<id>"`` sorts a tenant's items by creation time.

Ids are issued in canonical form (26 upper-case Crockford base32 characters) and path ids
must be in that form too: one spelling per item, so ``sk`` lookups never miss on case.

    @app.get("/products/<product_id>")
    def get_product(product_id: IdPath) -> dict: ...      # 400 on a malformed id

or, without Powertools validation, ``parse_id(product_id, "product_id")``.
"""

from __future__ import annotations

from typing import Annotated, Final

from aws_lambda_powertools.event_handler.openapi.params import Path
from ulid import ULID

from bbws.services.errors import ValidationFailed

# First character 0-7: larger values overflow ULID's 48-bit timestamp.
ULID_PATTERN: Final = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"

# A path parameter that must be a ULID; documented in the OpenAPI schema as a pattern.
IdPath = Annotated[str, Path(pattern=ULID_PATTERN, min_length=26, max_length=26)]


def new_id() -> str:
    return str(ULID())


def is_valid_id(value: str) -> bool:
    try:
        return str(ULID.from_str(value)) == value
    except ValueError:
        return False


def parse_id(value: str, field: str = "id") -> str:
    """``value`` if it is a canonical ULID, else a 400 naming ``path.<field>``."""
    if not is_valid_id(value):
        raise ValidationFailed(details=[{"field": f"path.{field}", "type": "ulid_invalid"}])
    return value
