"""The twelve BBWS email templates and their renderer."""

from __future__ import annotations

import jinja2
import jinja2.meta
import markupsafe
import pytest

from bbws.templates import (
    LAYOUT,
    TEMPLATES,
    RenderedEmail,
    render,
    render_from_source,
    template_sources,
)

NAMES = sorted(TEMPLATES)
EXPECTED = {
    "order_confirmation",
    "order_shipped",
    "order_delivered",
    "order_cancelled",
    "campaign_launch",
    "campaign_reminder",
    "welcome",
    "password_reset",
    "invoice",
    "low_stock_alert",
    "tenant_invite",
    "newsletter",
}


def test_there_are_exactly_the_twelve_templates_and_one_layout() -> None:
    assert set(TEMPLATES) == EXPECTED
    assert set(template_sources()) == {f"{n}.html.j2" for n in EXPECTED} | {LAYOUT}


@pytest.mark.parametrize("name", NAMES)
def test_template_renders_its_sample(name: str) -> None:
    spec = TEMPLATES[name]
    email = render(name, spec.sample)

    assert isinstance(email, RenderedEmail)
    assert email.subject and "\n" not in email.subject and "<" not in email.subject
    assert email.html.startswith("<!DOCTYPE html>")
    assert f"<title>{markupsafe.escape(email.subject)}</title>" in email.html
    assert spec.sample["brand_name"] in email.html
    assert spec.sample["support_email"] in email.text
    assert "<" not in email.text  # the text part is not HTML
    assert email.text.strip()


@pytest.mark.parametrize("name", NAMES)
def test_declared_variables_match_the_template_source(name: str) -> None:
    env = jinja2.Environment()
    sources = template_sources()
    used = jinja2.meta.find_undeclared_variables(env.parse(sources[TEMPLATES[name].filename]))
    used |= jinja2.meta.find_undeclared_variables(env.parse(sources[LAYOUT]))
    assert used - {"email_format"} == TEMPLATES[name].required


@pytest.mark.parametrize("name", NAMES)
def test_every_required_variable_is_really_required(name: str) -> None:
    spec = TEMPLATES[name]
    for variable in sorted(spec.required):
        context = {k: v for k, v in spec.sample.items() if k != variable}
        with pytest.raises(jinja2.UndefinedError):
            render(name, context)


def test_html_is_escaped_but_subject_and_text_are_not() -> None:
    context = {**TEMPLATES["welcome"].sample, "customer_name": "<script>alert(1)</script> & co"}
    email = render("welcome", context)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in email.html
    assert "<script>alert(1)</script> & co" in email.text
    assert email.subject.endswith("<script>alert(1)</script> & co")


def test_a_missing_item_attribute_raises_too() -> None:
    context = dict(TEMPLATES["order_confirmation"].sample)
    context["items"] = [{"name": "Mug", "quantity": 1}]  # no price
    with pytest.raises(jinja2.UndefinedError):
        render("order_confirmation", context)


def test_subject_is_one_line_even_if_a_value_has_newlines() -> None:
    context = {**TEMPLATES["order_shipped"].sample, "order_number": "X1\r\nBcc: evil@example.com"}
    assert "\n" not in render("order_shipped", context).subject


def test_rendering_from_s3_sources_matches_the_package() -> None:
    sources = template_sources()  # what the s3 stack uploads under templates/
    for name in NAMES:
        sample = TEMPLATES[name].sample
        assert render_from_source(sources, name, sample) == render(name, sample)


def test_an_edited_source_is_rendered_as_edited() -> None:
    sources = {**template_sources()}
    sources["welcome.html.j2"] = sources["welcome.html.j2"].replace("Welcome,", "Hello,")
    email = render_from_source(sources, "welcome", TEMPLATES["welcome"].sample)
    assert "Hello, Thandi Nkosi!" in email.html


@pytest.mark.parametrize("name", ["_layout", "../etc/passwd", "nope"])
def test_only_email_templates_can_be_rendered(name: str) -> None:
    with pytest.raises((ValueError, jinja2.TemplateNotFound)):
        render(name, TEMPLATES["welcome"].sample)


def test_the_renderer_reserves_email_format() -> None:
    with pytest.raises(ValueError, match="email_format"):
        render("welcome", {**TEMPLATES["welcome"].sample, "email_format": "html"})
