"""BBWS email templates: twelve Jinja2 emails sharing one layout, and their renderer.

Each ``{name}.html.j2`` extends ``_layout.html.j2`` and fills the blocks ``subject``,
``content`` (HTML) and ``text`` (plain text). The renderer renders a template once per
part, telling the layout which part through ``email_format``. The same sources are
uploaded to ``s3://bbws-templates-{env}/templates/`` by the s3 stack, and a service
that fetched them from there renders them with :func:`render_from_source`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from bbws.templates.catalog import LAYOUT, SUFFIX, TEMPLATES, TemplateSpec

__all__ = [
    "LAYOUT",
    "TEMPLATES",
    "EmailRenderer",
    "RenderedEmail",
    "TemplateSpec",
    "render",
    "render_from_source",
    "template_sources",
]

FORMAT_VARIABLE = "email_format"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def template_sources() -> dict[str, str]:
    """The package's template files by file name: the twelve emails and the layout."""
    root = resources.files(__name__)
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in root.iterdir()
        if entry.name.endswith(".j2")
    }


def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


class EmailRenderer:
    """Renders emails from any Jinja2 loader (the package, or sources fetched from S3)."""

    def __init__(self, loader: jinja2.BaseLoader) -> None:
        # Two environments over one loader: the HTML part is autoescaped; the subject and
        # the text part are not HTML, so escaping them would show "&amp;" to the reader.
        self._html = _environment(loader, autoescape=True)
        self._text = _environment(loader, autoescape=False)

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Render one email. Raises jinja2.UndefinedError if a variable is missing."""
        if name.startswith("_") or "/" in name:
            raise ValueError(f"{name!r} is not an email template name")
        if FORMAT_VARIABLE in context:
            raise ValueError(f"{FORMAT_VARIABLE!r} is reserved for the renderer")
        filename = f"{name}{SUFFIX}"
        subject = self._part(self._text, filename, context, "subject")
        return RenderedEmail(
            # A mail header is one line; collapsing whitespace also stops header injection.
            subject=" ".join(subject.split()),
            html=self._part(self._html, filename, context, "html"),
            text=self._part(self._text, filename, context, "text").strip() + "\n",
        )

    @staticmethod
    def _part(env: jinja2.Environment, filename: str, context: Mapping[str, Any], part: str) -> str:
        return env.get_template(filename).render({**context, FORMAT_VARIABLE: part})


@functools.cache
def _package_renderer() -> EmailRenderer:
    # Read through importlib.resources so this works from a wheel or a zip as well.
    return EmailRenderer(jinja2.DictLoader(template_sources()))


def render(name: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render one of the package's templates, e.g. ``render("welcome", {...})``."""
    return _package_renderer().render(name, context)


def render_from_source(
    source_by_name: Mapping[str, str], name: str, context: Mapping[str, Any]
) -> RenderedEmail:
    """Render from template sources keyed by file name (``order_shipped.html.j2``,
    ``_layout.html.j2``), e.g. the objects under ``templates/`` in ``bbws-templates-{env}``."""
    return EmailRenderer(jinja2.DictLoader(dict(source_by_name))).render(name, context)
