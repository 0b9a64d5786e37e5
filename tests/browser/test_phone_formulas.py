"""The book's pages on a phone (390 × 844 CSS pixels, two device pixels per CSS pixel).

Two things the reader sees on a small screen, measured on every page of ``book/`` in
the built book (``make book``):

* no inline formula is wider than the text column: MathJax does not break an inline
  formula across lines, so a wider one runs off the screen (display formulas scroll in
  their own box and are left to ``test_phone.py``);
* no image, player frames included, is drawn with fewer than 1.5 device pixels per CSS
  pixel, which is blurry on a phone.
"""

from __future__ import annotations

import pytest

from .conftest import unavailable
from .pages import BUILD, PAGES, on_phone

pytestmark = pytest.mark.browser

MIN_DEVICE_PIXELS_PER_CSS_PIXEL = 1.5
BOOK_PAGES = [rel for rel in PAGES if rel.startswith("book/")] or ["<no build>"]

MEASURE_JS = r"""
() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main');
  const style = getComputedStyle(column);     // the content box: the width the text runs in
  const width = column.getBoundingClientRect().width - parseFloat(style.paddingLeft)
    - parseFloat(style.paddingRight) - parseFloat(style.borderLeftWidth) - parseFloat(style.borderRightWidth);
  const wide = [];
  for (const box of document.querySelectorAll('span.math')) {
    const jax = box.querySelector('mjx-container');
    if (!jax || jax.getAttribute('display') === 'true') continue;
    const w = jax.getBoundingClientRect().width;
    if (w > width + 0.5) {
      const text = (box.querySelector('mjx-assistive-mml') || box).textContent.trim();
      wide.push({text: text.slice(0, 80), width: w});
    }
  }
  const images = Array.from(column.querySelectorAll('img'))
    .filter((img) => img.getBoundingClientRect().width > 0)
    .map((img) => ({src: img.src.slice(-40), natural: img.naturalWidth,
                    shown: img.getBoundingClientRect().width,
                    player: !!img.closest('.animation')}));
  return {column: width, wide, images, inline: document.querySelectorAll('span.math').length};
}
"""


def formulas_and_images(page) -> dict:
    """MEASURE_JS on the phone visit of a page (tests/browser/pages.py opens it once)."""
    return page.evaluate(MEASURE_JS)


for _rel in BOOK_PAGES:
    on_phone(_rel)(formulas_and_images)


@pytest.fixture
def measured(phone_visit):
    """measure(rel) -> what MEASURE_JS found on the page's phone visit."""
    return lambda rel: phone_visit(rel).probe(formulas_and_images)


@pytest.mark.parametrize("rel", BOOK_PAGES)
def test_no_inline_formula_is_wider_than_the_column(measured, rel):
    if rel == "<no build>":
        unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
    data = measured(rel)
    assert 300 < data["column"] < 390, f"{rel}: a text column of {data['column']:.0f} px on a 390 px phone"
    wide = [f"{f['width']:.0f} px: {f['text']}" for f in data["wide"]]
    assert not wide, (f"{rel}: inline formulas wider than the {data['column']:.0f} px column "
                      f"(break them into display math):\n  " + "\n  ".join(wide))


@pytest.mark.parametrize("rel", BOOK_PAGES)
def test_images_have_enough_device_pixels(measured, rel):
    if rel == "<no build>":
        unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
    blurry = [f"{'player frame' if i['player'] else 'image'} …{i['src']}: {i['natural']} px shown at "
              f"{i['shown']:.0f} CSS px ({i['natural'] / i['shown']:.2f}×)"
              for i in measured(rel)["images"] if i["natural"] / i["shown"] < MIN_DEVICE_PIXELS_PER_CSS_PIXEL]
    assert not blurry, f"{rel}: images under {MIN_DEVICE_PIXELS_PER_CSS_PIXEL}× on a phone:\n  " + "\n  ".join(blurry)
