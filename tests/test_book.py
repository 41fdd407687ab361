"""The built book: it builds clean with -n -W from a fresh cache, never shows solution code, and
works in a real browser (Playwright driving Debian's Chromium, headless) at a phone's width and a
desktop's: both sidebars open and lead somewhere, no page scrolls sideways, every figure is
numbered and captioned. Its launch buttons come from the one repository setting in _config.yml,
and a chapter opens as a notebook in a real JupyterLab set up as binder/ sets up Binder.

All of it lives in one module so that `--dist loadscope` runs it on one xdist worker, which builds
the book once.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.config import CourseConfig
from tests.conftest import BIN, ROOT, BookBuild, chromium

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
TEXT_SUFFIXES = {".html", ".txt", ".md", ".ipynb", ".js", ".json", ".py"}


def solution_lines(course: CourseConfig) -> list[str]:
    """Every non-trivial line of solution code in solutions/, whitespace-normalized."""
    import nbformat

    lines = []
    for assignment in course.assignments():
        for path in course.notebooks(assignment):
            for cell in nbformat.read(path, as_version=4).cells:
                for region in SOLUTION.findall(cell.source):
                    for line in region.splitlines():
                        norm = " ".join(line.split())
                        if len(norm) >= 10 and not norm.startswith("#"):
                            lines.append(norm)
    return lines


def site_text(site: Path) -> dict[Path, str]:
    """Each text file of the built site, tags stripped, entities decoded, whitespace collapsed.

    ``_static/`` holds the theme's and MathJax's own assets, never course content.
    """
    texts = {}
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and "_static" not in path.parts:
            raw = path.read_text(errors="replace")
            if path.suffix == ".html":
                raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
            texts[path] = " ".join(raw.split())
    return texts


def test_book_builds_without_warnings(book_build: BookBuild) -> None:
    assert book_build.returncode == 0, book_build.log[-5000:]
    # Sphinx reports "path: WARNING: ..."; kernels' own "[IPKernelApp] WARNING |" log lines
    # (TCP on loopback without encryption) are not build warnings.
    warnings = [ln for ln in book_build.log.splitlines() if re.search(r"(WARNING|ERROR):", ln)]
    assert not warnings, "\n".join(warnings)
    for page in (
        "index.html",
        "book/intro.html",
        "book/notation.html",
        "book/01_linear_algebra.html",
        "exercises/01_linear_algebra/linear_algebra.html",
    ):
        assert (book_build.html / page).is_file(), f"{page} was not built"


def _runs(lines: list[str], length: int = 3) -> list[str]:
    """Every run of ``length`` consecutive solution lines, joined as the site text joins them."""
    return [" ".join(lines[i : i + length]) for i in range(len(lines) - length + 1)]


def test_no_solution_code_reaches_the_book(course: CourseConfig, book_build: BookBuild) -> None:
    """No three consecutive lines of a reference answer stand in the built book. (Single lines
    are common idioms, `loss.backward()`; whether the book *answers* an exercise is judged by
    behaviour, in tests/test_book_answers.py.)"""
    lines = solution_lines(course)
    assert len(lines) >= 20, "too few solution lines found: is the marker format right?"
    texts = site_text(book_build.html)
    assert len(texts) > 10
    leaks = [
        (run, str(p.relative_to(book_build.html)))
        for p, text in texts.items()
        for run in _runs(lines)
        if run in text
    ]
    assert not leaks, f"solution code in the built book: {leaks[:5]}"
    assert not [p for p in book_build.html.rglob("*") if "solutions" in p.parts]
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert not [p for p, t in texts.items() if marker in t], f"{marker} in the book"


def test_leak_check_would_catch_a_leak(course: CourseConfig, tmp_path: Path) -> None:
    run = "\n".join(solution_lines(course)[3:6])
    (tmp_path / "page.html").write_text(f"<pre><span>{html.escape(run)}</span></pre>")
    assert any(_runs(solution_lines(course))[3] in text for text in site_text(tmp_path).values())


def test_chapter_links_to_its_rendered_unexecuted_exercise(book_build: BookBuild) -> None:
    chapter = (book_build.html / "book/01_linear_algebra.html").read_text()
    assert "../exercises/01_linear_algebra/linear_algebra.html" in chapter
    exercise = (book_build.html / "exercises/01_linear_algebra/linear_algebra.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", exercise)).split())
    assert "raise NotImplementedError()" in text and "def matmul_broadcast(A, B):" in text
    executed = '<div class="cell_output' in exercise
    assert not executed, "the exercise page was executed; it must only render"


def test_math_is_served_locally(book_build: BookBuild) -> None:
    chapter = (book_build.html / "book/01_linear_algebra.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in chapter
    assert (book_build.html / "_static/mathjax/tex-chtml.js").is_file()
    assert "cdn.jsdelivr" not in chapter
    assert "search.html" in chapter


def _repository() -> tuple[str, str]:
    """The repository URL and branch, from the one place that names them: _config.yml."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/"), config["repository"]["branch"]


def _binder_prefix() -> str:
    url, branch = _repository()
    org_repo = url.removeprefix("https://github.com/")
    assert org_repo != url and org_repo.count("/") == 1, f"not a GitHub repository: {url}"
    return f"https://mybinder.org/v2/gh/{org_repo}/{branch}"


def _hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


def test_launch_buttons_come_from_the_repository_setting(book_build: BookBuild) -> None:
    """Binder opens each chapter's .md and each exercise's .ipynb, from the repository named in
    _config.yml; there is no Colab button (Colab cannot open a .md chapter) and no placeholder."""
    binder = _binder_prefix()
    url, _ = _repository()
    for page, source in (
        ("book/01_linear_algebra.html", "book/01_linear_algebra.md"),
        (
            "exercises/01_linear_algebra/linear_algebra.html",
            "exercises/01_linear_algebra/linear_algebra.ipynb",
        ),
    ):
        links = _hrefs((book_build.html / page).read_text())
        assert f"{binder}?urlpath=lab/tree/{source}" in links, f"no Binder button for {source}"
        assert url in links, f"no repository button on {page}"
        assert not [h for h in links if "colab" in h], f"a Colab button on {page}"
    for path in book_build.html.rglob("*.html"):
        text = path.read_text(errors="replace")
        for placeholder in ("hub.example.edu", "colab.research.google.com"):
            assert placeholder not in text, f"{placeholder} in {path.relative_to(book_build.html)}"


def test_readme_binder_badge_and_links_match_the_repository_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    binder = _binder_prefix()
    url, _ = _repository()
    badges = re.findall(r"\]\((https://mybinder\.org/v2/[^)\s]+)\)", readme)
    assert badges, "the README has no Binder badge"
    for link in badges:
        assert link.startswith(binder + "?urlpath=lab/tree/"), f"{link} is not {binder}"
        target = link.split("urlpath=lab/tree/", 1)[1]
        assert (ROOT / target).is_file(), f"the Binder badge opens {target}, which does not exist"
    org = url.removeprefix("https://github.com/").split("/")[0]
    for link in re.findall(rf"https://github\.com/{re.escape(org)}/[^)\s>]*", readme):
        assert link.rstrip("/").startswith(url), f"README links {link}, not {url}"


def test_binder_installs_the_course_and_opens_chapters_as_notebooks() -> None:
    """binder/ names the course's requirements and the course itself, in the forms repo2docker
    reads (a nested requirement resolves beside its file; "." is the repository root)."""
    lines = [
        ln.split("#", 1)[0].strip()
        for ln in (ROOT / "binder/requirements.txt").read_text().splitlines()
    ]
    lines = [ln for ln in lines if ln]
    nested = [ROOT / "binder" / ln.split(None, 1)[1] for ln in lines if ln.startswith("-r ")]
    assert [n.resolve() for n in nested] == [ROOT / "requirements.txt"], nested
    assert "-e ." in lines, "Binder would not install coursekit"
    assert (ROOT / "binder/runtime.txt").read_text().strip() == "python-3.11"
    post_build = ROOT / "binder/postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only when it is executable"
    start = (ROOT / "binder/start").read_text()
    assert start.rstrip().endswith('exec "$@"'), "binder/start must end by running its command"
    assert "/jupyter" in start and (ROOT / "jupyter").is_dir(), "Binder lacks the student settings"
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^jupytext[<>=]", requirements, re.M), "jupytext is not a requirement"


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def site(book_build: BookBuild) -> Iterator[str]:
    """Serve the built book on loopback, as a reader's web server would."""
    assert book_build.returncode == 0, "the book did not build"
    handler = functools.partial(_QuietHandler, directory=str(book_build.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from chromium(CHROMIUM_ARGS)


def test_reader_reaches_chapter_01_with_math_and_figures(site: str, browser) -> None:
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "requestfailed",
        # NOTE: the browser cancels its own favicon fetch when the page navigates away first
        # (net::ERR_ABORTED, seen under load); the icon is served, as the HTTP check shows.
        lambda r: (
            None
            if "favicon" in r.url and "ERR_ABORTED" in (r.failure or "")
            else problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )

    # The index loads everything (MathJax too) before the reader moves on; a click before then
    # would cancel the index's own requests (net::ERR_ABORTED), which is no fault of the site.
    page.goto(f"{site}/index.html", wait_until="networkidle")
    link = page.locator("nav a[href*='01_linear_algebra']").first
    link.click()
    page.wait_for_url("**/book/01_linear_algebra.html")
    # MathJax has typeset the math once its containers exist.
    page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
    assert page.locator("mjx-container").count() > 10
    page.wait_for_load_state("load")
    loaded = page.evaluate(
        "Array.from(document.querySelectorAll('main img'))"
        ".filter(i => i.complete && i.naturalWidth > 0).length"
    )
    assert loaded >= 1, "no figure loaded on chapter 01"
    assert problems == [], problems
    page.close()


def test_search_finds_chapter_01(site: str, browser) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site}/search.html?q=broadcasting")
    hit = page.locator("#search-results a[href*='01_linear_algebra']").first
    hit.wait_for(timeout=30_000)
    assert errors == [], errors
    page.close()


def test_every_plotted_axis_is_labelled() -> None:
    """Each figure a chapter draws with axes (not an image grid, whose axes are off) labels both
    of them: ``set_xlabel``, and ``set_ylabel`` or tile labels along y."""
    unlabelled = []
    for chapter in sorted((ROOT / "book").glob("0*.md")):
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(), re.S)
        for cell in cells:
            if "plt.subplots(" not in cell:
                continue
            x = "set_xlabel(" in cell or '"x")' in cell
            y = "set_ylabel(" in cell or '"y")' in cell
            if not (x and y):
                first = next(line for line in cell.splitlines() if "plt.subplots(" in line)
                unlabelled.append(f"{chapter.name}: {first.strip()}")
    assert not unlabelled, "figures with an unlabelled axis:\n" + "\n".join(unlabelled)


def test_each_chapter_converts_to_a_notebook_with_jupytext(tmp_path: Path) -> None:
    """The chapters are MyST markdown notebooks: jupytext (the converter JupyterLab uses to open
    them) reads each one as a Python notebook with every code cell."""
    import nbformat

    chapters = sorted(ROOT.glob("book/0*.md")) + [ROOT / "book/notation.md"]
    assert len(chapters) >= 7
    copies = [Path(shutil.copy(chapter, tmp_path)) for chapter in chapters]
    proc = subprocess.run(  # one run for all: each start of jupytext takes seconds
        [str(BIN / "jupytext"), "--to", "ipynb", *map(str, copies)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    for chapter in chapters:
        notebook = nbformat.read(tmp_path / f"{chapter.stem}.ipynb", as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        # read as plain markdown, the {code-cell} fences would stay text: no code cells at all
        assert code and len(code) == chapter.read_text().count("```{code-cell}"), chapter.name
        assert notebook.metadata.kernelspec.name == "python3", chapter.name


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}
PRIMARY = ".bd-sidebar-primary"  # the table of contents
SECONDARY = ".bd-sidebar-secondary"  # the page contents ("Contents")
# Whether a reader can see the element: laid out, not hidden, and inside the window.
ON_SCREEN = """selector => {
  const element = document.querySelector(selector);
  if (!element) return false;
  const box = element.getBoundingClientRect();
  const style = getComputedStyle(element);
  return style.visibility !== "hidden" && style.display !== "none" && box.width > 0
    && box.right > 0 && box.left < innerWidth;
}"""
MATH_TYPESET = "async () => { await window.MathJax?.startup?.promise; }"


@contextlib.contextmanager
def screenshot_on_failure(page, path: Path) -> Iterator[None]:
    """Save what the reader saw when a step fails, and name the file in the failure."""
    try:
        yield
    except Exception as error:  # an assertion, or a Playwright timeout
        page.screenshot(path=str(path))
        raise AssertionError(f"{error}\nscreenshot: {path}") from error


def wait_on_screen(page, selector: str, shown: bool, why: str) -> None:
    try:
        page.wait_for_function(
            f"selector => ({ON_SCREEN})(selector) === {'true' if shown else 'false'}",
            arg=selector,
            timeout=5_000,
        )
    except Exception as error:
        raise AssertionError(why) from error


def follow_toc_link(page, chapter: str) -> None:
    """Click the chapter's entry in the table of contents; its page must load."""
    page.locator(f"{PRIMARY} a[href*='{chapter}']").first.click(timeout=5_000)
    page.wait_for_url(f"**/book/{chapter}.html", timeout=15_000)


def follow_page_contents_link(page) -> None:
    """Click a section in the page contents; the page must jump to that section."""
    link = page.locator(f"{SECONDARY} nav.page-toc a.nav-link:visible").nth(1)
    href = link.get_attribute("href") or ""
    assert href.startswith("#"), f"the page contents link {href!r} is not a section of the page"
    link.click(timeout=5_000)
    page.wait_for_url(f"**{href}", timeout=5_000)
    page.wait_for_function(
        "id => { const top = document.getElementById(id).getBoundingClientRect().top;"
        " return top > -2 && top < innerHeight / 2; }",
        arg=href[1:],
        timeout=5_000,
    )


def test_phone_reader_opens_both_sidebars_and_follows_their_links(
    site: str, browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport=PHONE)
    with screenshot_on_failure(page, tmp_path / "phone-navigation.png"):
        page.goto(f"{site}/book/01_linear_algebra.html")
        wait_on_screen(page, PRIMARY, False, "the table of contents covers the page unasked")
        page.locator("button.primary-toggle:visible").click(timeout=5_000)
        wait_on_screen(page, PRIMARY, True, "the sidebar button did not open the contents")
        follow_toc_link(page, "02_jacobians_hessians")
        wait_on_screen(page, SECONDARY, False, "the page contents cover the page unasked")
        page.locator("button.secondary-toggle:visible").click(timeout=5_000)
        wait_on_screen(page, SECONDARY, True, "the 'On this page' button did not open it")
        follow_page_contents_link(page)
    page.close()


def test_desktop_reader_collapses_the_contents_and_follows_both_sidebars(
    site: str, browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    with screenshot_on_failure(page, tmp_path / "desktop-navigation.png"):
        page.goto(f"{site}/book/01_linear_algebra.html")
        wait_on_screen(page, PRIMARY, True, "no table of contents beside the page")
        wait_on_screen(page, SECONDARY, True, "no page contents beside the page")
        searches = page.locator(".search-button-field:visible").count()
        assert searches == 1, f"{searches} search bars on the page, not one"
        page.locator("button.primary-toggle:visible").click(timeout=5_000)
        wait_on_screen(page, PRIMARY, False, "the hamburger did not collapse the contents")
        page.locator("button.primary-toggle:visible").click(timeout=5_000)
        wait_on_screen(page, PRIMARY, True, "the hamburger did not reopen the contents")
        follow_toc_link(page, "02_jacobians_hessians")
        follow_page_contents_link(page)
    page.close()


def toc_pages() -> list[str]:
    """Every page the table of contents lists, as its built .html path."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    return [f"{name}.html" for name in files]


def test_no_page_scrolls_sideways_on_a_phone(site: str, browser, tmp_path: Path) -> None:
    pages = toc_pages()
    assert len(pages) >= 15, pages
    page = browser.new_page(viewport=PHONE)
    wide = []
    for name in pages:
        page.goto(f"{site}/{name}")
        page.wait_for_load_state("load")
        page.evaluate(MATH_TYPESET)  # typeset math can be wider than its source
        width, window = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        if width > window + 1:
            shot = tmp_path / f"wide-{name.replace('/', '-')}.png"
            page.screenshot(path=str(shot), full_page=True)
            wide.append(f"{name} is {width} px wide in a {window} px window (screenshot {shot})")
    page.close()
    assert not wide, "\n".join(wide)


def test_every_figure_has_a_number_and_a_caption(site: str, browser, tmp_path: Path) -> None:
    chapters = [name for name in toc_pages() if re.fullmatch(r"book/0\d_\w+\.html", name)]
    assert len(chapters) == 6, chapters
    page = browser.new_page(viewport=DESKTOP)
    problems = []
    for name in chapters:
        page.goto(f"{site}/{name}")
        figures = page.evaluate(
            """() => [...document.querySelectorAll("article.bd-article img")].map(img => {
              const caption = img.closest("figure")?.querySelector("figcaption");
              return {
                src: img.getAttribute("src"),
                number: caption?.querySelector(".caption-number")?.textContent.trim() ?? "",
                text: caption?.querySelector(".caption-text")?.textContent.trim() ?? "",
              };
            })"""
        )
        if not figures:
            problems.append(f"{name}: no figures")
        numbers = [figure["number"] for figure in figures]
        if len(set(numbers)) != len(numbers):
            problems.append(f"{name}: figure numbers repeat: {numbers}")
        for figure in figures:
            if not re.fullmatch(r"Fig\. \d+(\.\d+)*", figure["number"]) or len(figure["text"]) < 20:
                problems.append(f"{name}: {figure['src']} is not a numbered, captioned figure")
    if problems:
        shot = tmp_path / "figures.png"
        page.screenshot(path=str(shot), full_page=True)
        problems.append(f"screenshot of the last page: {shot}")
    page.close()
    assert not problems, "\n".join(problems)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, config_dir: Path, log: Path) -> Iterator[str]:
    """JupyterLab from the venv on loopback, serving ``root``, started as Binder starts it (through
    binder/start, from this repository) with the user's settings in ``config_dir``; yields the
    URL of lab/tree/{} with its token."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config_dir),
        REPO_DIR=str(ROOT),  # as repo2docker sets it
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    command = [
        "bash",
        str(ROOT / "binder/start"),
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--allow-root",  # NOTE: CI containers run as root, which JupyterLab refuses by default
    ]
    with log.open("w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"JupyterLab exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"JupyterLab did not start: {log}"
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        yield f"{url}/lab/tree/{{}}?token={token}"
    finally:
        # NOTE: a POST to /api/shutdown stops the kernels the page started as well; a signal to
        # the server alone could leave them running.
        shutdown = urllib.request.Request(
            f"{url}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(shutdown, timeout=10)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_binder_opens_a_chapter_as_a_notebook_in_jupyterlab(browser, tmp_path: Path) -> None:
    """The Binder button's link, lab/tree/book/01_linear_algebra.md, opens a notebook in a real
    JupyterLab once binder/postBuild has run, not a text editor."""
    config_dir = tmp_path / "jupyter-config"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config_dir),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    subprocess.run(["bash", str(ROOT / "binder/postBuild")], env=env, check=True)
    course = tmp_path / "course"
    (course / "book").mkdir(parents=True)
    shutil.copy(ROOT / "book/01_linear_algebra.md", course / "book")
    with jupyterlab(course, config_dir, tmp_path / "jupyterlab.log") as lab:
        page = browser.new_page(viewport=DESKTOP)
        with screenshot_on_failure(page, tmp_path / "jupyterlab-chapter.png"):
            page.goto(lab.format("book/01_linear_algebra.md"))
            # whichever comes first: the notebook's cells, or the text editor
            opened = page.locator(".jp-NotebookPanel .jp-CodeCell, .jp-FileEditor").first
            opened.wait_for(timeout=90_000)
            assert page.locator(".jp-FileEditor").count() == 0, "the chapter opened as text"
            current = ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel"
            assert page.locator(current).first.inner_text() == "01_linear_algebra.md"
        page.close()
