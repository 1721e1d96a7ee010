"""CloudFront origin access identities, which moto 5.2 lacks (every OAI call answers 404).

The S3 stack (``bbws.schemas.s3``) creates the identity its frontend bucket's policy grants
``s3:GetObject`` to, and ``bbws.backend_public`` finds it by comment for the distribution's
S3 origin. :func:`serve_origin_access_identities` adds the six OAI operations to moto's
CloudFront (create, get, get config, list, update, delete), per account, with CloudFront's
XML shapes and errors: moto parses the requests and writes the answers from botocore's model
of the API, so only the behaviour is here.

As CloudFront does:

* a create with a ``CallerReference`` already used and the same configuration answers the
  existing identity; with another configuration, ``CloudFrontOriginAccessIdentityAlreadyExists``;
* update and delete need the current ``ETag`` in ``If-Match`` (``InvalidIfMatchVersion``
  without one, ``PreconditionFailed`` for a stale one); an update keeps the ``CallerReference``
  (``IllegalUpdate``) and gives a new ETag;
* a delete is refused (``CloudFrontOriginAccessIdentityInUse``) while a distribution's S3
  origin names ``origin-access-identity/cloudfront/<id>``;
* ``S3CanonicalUserId`` is 96 hex digits, derived from the account and the id, so one
  identity always has the same one.

Identities live on moto's CloudFront backend of the account, so moto's reset clears them.
Installing is process-wide and idempotent; it must happen before the moto server first
answers a CloudFront request (the server builds its CloudFront routes then).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any, Final

_MARK: Final = "_promote_serves_oais"
_ROOT: Final = "{0}/2020-05-31/origin-access-identity/cloudfront"
_PATHS: Final = (
    _ROOT + "$",
    _ROOT + "/(?P<oai_id>[^/]+)$",
    _ROOT + "/(?P<oai_id>[^/]+)/config$",
)
_LOCATION: Final = "https://cloudfront.amazonaws.com/2020-05-31/origin-access-identity/cloudfront"
ORIGIN_PREFIX: Final = "origin-access-identity/cloudfront/"  # how an S3 origin names one
MAX_ITEMS: Final = 100
_ALPHABET: Final = string.ascii_uppercase + string.digits
_lock = threading.Lock()


def serve_origin_access_identities() -> None:
    """Give moto's CloudFront the origin access identity API."""
    from moto.cloudfront import responses, urls

    with _lock:
        handler = responses.CloudFrontResponse
        if getattr(handler, _MARK, False):
            return
        for name, method in _OPERATIONS.items():
            setattr(handler, name, method)
        for path in _PATHS:
            urls.url_paths.setdefault(path, handler.dispatch)
        setattr(handler, _MARK, True)


@dataclass
class Identity:
    id: str
    canonical_user_id: str
    caller_reference: str
    comment: str
    etag: str

    def config(self) -> dict[str, str]:
        return {"CallerReference": self.caller_reference, "Comment": self.comment}

    def shape(self) -> dict[str, Any]:
        """The ``CloudFrontOriginAccessIdentity`` element."""
        return {
            "Id": self.id,
            "S3CanonicalUserId": self.canonical_user_id,
            "CloudFrontOriginAccessIdentityConfig": self.config(),
        }

    def summary(self) -> dict[str, str]:
        return {"Id": self.id, "S3CanonicalUserId": self.canonical_user_id, "Comment": self.comment}


@dataclass
class Identities:
    """One account's identities, in the order they were created."""

    account_id: str
    by_id: dict[str, Identity] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, reference: str, comment: str) -> tuple[Identity, bool]:
        """The identity for ``reference``, and whether it is new."""
        with self.lock:
            for found in self.by_id.values():
                if found.caller_reference != reference:
                    continue
                if found.comment != comment:
                    raise _error(
                        "CloudFrontOriginAccessIdentityAlreadyExists",
                        "The caller reference you attempted to create the origin access "
                        f"identity with is associated with another identity ({found.id}).",
                    )
                return found, False
            oai_id = self._new_id()
            identity = Identity(
                id=oai_id,
                canonical_user_id=canonical_user_id(self.account_id, oai_id),
                caller_reference=reference,
                comment=comment,
                etag=_token(),
            )
            self.by_id[oai_id] = identity
            return identity, True

    def get(self, oai_id: str) -> Identity:
        found = self.by_id.get(oai_id)
        if found is None:
            raise _error(
                "NoSuchCloudFrontOriginAccessIdentity",
                "The specified origin access identity does not exist.",
            )
        return found

    def page(self, marker: str | None, max_items: int) -> tuple[list[Identity], str | None]:
        """Up to ``max_items`` identities after the one ``marker`` names; the next marker."""
        ordered = list(self.by_id.values())
        start = 0
        if marker:
            ids = [identity.id for identity in ordered]
            start = ids.index(marker) + 1 if marker in ids else len(ordered)
        chosen = ordered[start : start + max_items]
        more = start + max_items < len(ordered)
        return chosen, (chosen[-1].id if more and chosen else None)

    def update(self, oai_id: str, if_match: str | None, reference: str, comment: str) -> Identity:
        with self.lock:
            identity = self._matching(oai_id, if_match)
            if reference != identity.caller_reference:
                raise _error(
                    "IllegalUpdate", "The update contains modifications that are not allowed."
                )
            identity.comment = comment
            identity.etag = _token()
            return identity

    def delete(self, oai_id: str, if_match: str | None, in_use: bool) -> None:
        with self.lock:
            self._matching(oai_id, if_match)
            if in_use:
                raise _error(
                    "CloudFrontOriginAccessIdentityInUse",
                    "The Origin Access Identity specified is already in use.",
                )
            del self.by_id[oai_id]

    def _matching(self, oai_id: str, if_match: str | None) -> Identity:
        identity = self.get(oai_id)
        if not if_match:
            raise _error(
                "InvalidIfMatchVersion",
                "The If-Match version is missing or not valid for the resource.",
            )
        if if_match != identity.etag:
            raise _error(
                "PreconditionFailed",
                "The precondition given in one or more of the request header fields "
                "evaluated to false.",
            )
        return identity

    def _new_id(self) -> str:
        while True:
            oai_id = "E" + "".join(secrets.choice(_ALPHABET) for _ in range(13))
            if oai_id not in self.by_id:
                return oai_id


def canonical_user_id(account_id: str, oai_id: str) -> str:
    """The identity's S3 canonical user: 96 hex digits, as CloudFront's are, always the same."""
    return hashlib.sha384(f"cloudfront-oai:{account_id}:{oai_id}".encode()).hexdigest()


def _token() -> str:
    return "E" + "".join(secrets.choice(_ALPHABET) for _ in range(13))


def _error(code: str, message: str) -> Exception:
    """A CloudFront error; moto answers it with the status the API's model gives ``code``."""
    # moto finds the error's model by the exception's package: it must be CloudFront's.
    from moto.cloudfront.exceptions import CloudFrontException

    error: Exception = CloudFrontException(code, message)
    return error


# --- the operations, as methods of moto's CloudFrontResponse ----------------------------------


def _identities(response: Any) -> Identities:
    backend = response.backend  # the account's CloudFront backend; reset with it
    with _lock:
        found = backend.__dict__.get(_MARK)
        if found is None:
            found = backend.__dict__[_MARK] = Identities(str(response.current_account))
    assert isinstance(found, Identities)
    return found


def _config(response: Any) -> tuple[str, str]:
    config = response._get_param("CloudFrontOriginAccessIdentityConfig")
    if not config:
        raise _error(
            "MissingBody",
            "This operation requires a body. Ensure that the body is present and the "
            "Content-Type header is set.",
        )
    reference, comment = config.get("CallerReference"), config.get("Comment")
    if not reference:
        raise _error("InvalidArgument", "CallerReference is required.")
    if comment is None:
        raise _error("InvalidArgument", "Comment is required.")
    if len(comment) > 128:
        raise _error("InvalidArgument", "The comment may have at most 128 characters.")
    return str(reference), str(comment)


def _one(identity: Identity, **extra: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(
        {"CloudFrontOriginAccessIdentity": identity.shape(), "ETag": identity.etag, **extra}
    )


def _create(self: Any) -> Any:
    reference, comment = _config(self)
    identity, _ = _identities(self).create(reference, comment)
    return _one(identity, Location=f"{_LOCATION}/{identity.id}")


def _get(self: Any) -> Any:
    return _one(_identities(self).get(str(self._get_param("Id"))))


def _get_config(self: Any) -> Any:
    from moto.core.responses import ActionResult

    identity = _identities(self).get(str(self._get_param("Id")))
    return ActionResult(
        {"CloudFrontOriginAccessIdentityConfig": identity.config(), "ETag": identity.etag}
    )


def _list(self: Any) -> Any:
    from moto.core.responses import ActionResult

    marker = self._get_param("Marker") or ""
    max_items = self._get_int_param("MaxItems") or MAX_ITEMS
    if not 1 <= max_items <= 1000:
        raise _error("InvalidArgument", "MaxItems must be between 1 and 1000.")
    chosen, next_marker = _identities(self).page(marker, max_items)
    listing: dict[str, Any] = {
        "Marker": marker,
        "MaxItems": max_items,
        "IsTruncated": next_marker is not None,
        "Quantity": len(chosen),
        "Items": [identity.summary() for identity in chosen] or None,
    }
    if next_marker is not None:
        listing["NextMarker"] = next_marker
    return ActionResult({"CloudFrontOriginAccessIdentityList": listing})


def _update(self: Any) -> Any:
    reference, comment = _config(self)
    oai_id, if_match = str(self._get_param("Id")), self._get_param("IfMatch")
    return _one(_identities(self).update(oai_id, if_match, reference, comment))


def _delete(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    oai_id = str(self._get_param("Id"))
    identities = _identities(self)
    identities.get(oai_id)  # NoSuch... before any other check, as CloudFront answers
    identities.delete(oai_id, self._get_param("IfMatch"), _in_use(self.backend, oai_id))
    return EmptyResult()


def _in_use(backend: Any, oai_id: str) -> bool:
    """Whether a distribution of the account has an S3 origin reading through ``oai_id``."""
    named = ORIGIN_PREFIX + oai_id
    for distribution in getattr(backend, "distributions", {}).values():
        config = getattr(distribution, "distribution_config", None)
        origins = (getattr(config, "Origins", None) or {}).get("Items") or []
        if any(getattr(origin, "s3_access_identity", "") == named for origin in origins):
            return True
    return False


# moto calls the method named after the operation (CreateCloudFrontOriginAccessIdentity ->
# create_cloud_front_origin_access_identity).
_OPERATIONS: Final = {
    "create_cloud_front_origin_access_identity": _create,
    "get_cloud_front_origin_access_identity": _get,
    "get_cloud_front_origin_access_identity_config": _get_config,
    "list_cloud_front_origin_access_identities": _list,
    "update_cloud_front_origin_access_identity": _update,
    "delete_cloud_front_origin_access_identity": _delete,
}
