"""What the browser tests of single chapters share: the chapter's number in the book, a
server of the built book and a page opened and ready (MathJax typeset, images loaded)."""
from __future__ import annotations

import re
from collections.abc import Iterator

from .conftest import PageWatch, StaticServer, unavailable
from .test_static_book import BUILD, PAGE_LOAD_TIMEOUT_MS, _wait_until_ready, toc_files


def chapter_number(file: str) -> int:
    """The number of chapter ``file`` (e.g. ``"book/09_fewer_steps"``) in the book: its place
    among the chapters ``book/NN_*`` of ``_toc.yml``, which are numbered across the parts."""
    chapters = [f for f in toc_files() if re.match(r"book/\d\d_", f)]
    if file not in chapters:
        raise AssertionError(f"{file} is not among the numbered chapters of _toc.yml: {chapters}")
    return chapters.index(file) + 1


def serve_book_for(page: str) -> Iterator[StaticServer]:
    """Serve the built book over http, or report it unavailable if ``page`` was not built."""
    if not (BUILD / page).is_file():
        unavailable(f"{page} is not built: {BUILD / page} is missing (run `make book`)")
    with StaticServer(BUILD) as server:
        yield server


def open_page(context, server: StaticServer, page: str) -> PageWatch:
    """``page`` opened in a new tab of ``context``, loaded and typeset."""
    watch = PageWatch.open(context)
    watch.page.goto(server.url + page, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    _wait_until_ready(watch.page)
    return watch
