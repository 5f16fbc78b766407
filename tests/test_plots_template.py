"""The page `dvc plots show` fills: Vega inlined, DVC's placeholders, no CDN links."""

from __future__ import annotations

import re

import pytest
from dvc_render.html import HTML

from bnstudy.paths import CODE_ROOT
from bnstudy.plots_template import PACKAGES, TEMPLATE, page


def test_page_inlines_scripts_and_keeps_dvcs_placeholders():
    text = page({"a@1": "var a = 1;", "b@2": "var b = {x: 2};"})
    assert text.index("var a = 1;") < text.index("var b = {x: 2};")
    filled = HTML(text).with_element("<div>plot</div>").with_scripts("<script src=x>").embed()
    assert "<div>plot</div>" in filled
    assert "<script src=x>" not in filled  # DVC's CDN scripts have nowhere to go
    assert "{refresh_tag}" not in filled


@pytest.mark.parametrize("js", ["x = '</script>';", "x = '{plot_divs}';"])
def test_page_refuses_scripts_that_would_break_it(js):
    with pytest.raises(ValueError, match="cannot be inlined"):
        page({"bad@1": js})


def test_the_committed_template_is_the_one_dvc_uses():
    config = (CODE_ROOT / ".dvc" / "config").read_text()
    assert re.search(r"^\[plots\]\n\s+html_template = plots\.html$", config, re.M), config
    text = TEMPLATE.read_text()
    for name in PACKAGES:
        assert f"<script>/* {name} */" in text
    assert "{plot_divs}" in text and "{scripts}" not in text
    assert not re.search(r"<script[^>]+src=", text)
