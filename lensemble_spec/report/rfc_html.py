"""The RFCs as HTML pages the report links into: one anchor per requirement id.

A small Markdown renderer for the subset the RFCs use (and nothing else, so no dependency):
ATX headings (with ``id`` slugs), paragraphs, ``-``/``*``/``1.`` lists with indented
continuation lines, pipe tables, fenced code blocks, and inline code spans, ``**bold**``,
``*italic*`` and ``[text](link)`` — a link only to an anchor or another RFC page (``RFC-*.md`` is
rewritten to its ``.html`` page); any other link stays as text, since requirement text in a
compliance JSON is untrusted. Everything is HTML-escaped first; only markup made here is emitted.

A requirement block (``- **ART-023** (MUST): …``, see :mod:`lensemble_spec.requirements`)
becomes ``<li id="ART-023" class="requirement">`` so ``RFC-0010-artifacts.html#ART-023`` lands
on it; a harness parameter list item (``- `NAME` = ...``) gets ``id="NAME"``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from ..rfc_parse import HEADING_RE

_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d+\.)\s+(.*)$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})(.*)$")
_REQ = re.compile(r"^<strong>([A-Z][A-Z0-9]*-\d{3})</strong> \((MUST|SHOULD|MAY)\)")
_PARAM = re.compile(r"^<code>([A-Z][A-Z0-9_]*)</code> =")


def _safe_href(href: str) -> str | None:
    """Links stay only within the RFC pages (an anchor, or another RFC/README page); None otherwise."""
    m = re.fullmatch(r"((?:RFC-\d{4}[\w-]*|README)\.(?:md|html))?(#[\w.-]*)?", href)
    if not m or not href:
        return None
    return re.sub(r"\.md$", ".html", m.group(1) or "") + (m.group(2) or "")


def inline(text: str) -> str:
    """Inline Markdown of ``text`` as safe HTML (code spans, bold, italic, links)."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):  # code spans first: their content is literal
        out.append(_emphasis(text[pos : m.start()]))
        out.append(f"<code>{html.escape(m.group(2).strip() if m.group(2).strip() else m.group(2))}</code>")
        pos = m.end()
    out.append(_emphasis(text[pos:]))
    return "".join(out)


def _emphasis(text: str) -> str:
    text = html.escape(text, quote=True)
    text = _LINK.sub(_link, text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _ITALIC.sub(r"<em>\1</em>", text)


def _link(m: re.Match[str]) -> str:
    href = _safe_href(html.unescape(m.group(2)))
    return m.group(0) if href is None else f'<a href="{html.escape(href)}">{m.group(1)}</a>'


def slug(text: str) -> str:
    s = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s]+", "-", s)


def _table(rows: list[str]) -> str:
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    head, body = cells[0], [r for r in cells[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
    out = ["<table>", "<tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body]
    return "\n".join(out + ["</table>"])


def _list_item(text: str) -> str:
    body = inline(" ".join(text.split()))
    m = _REQ.match(body)
    if m:
        return f'<li id="{m.group(1)}" class="requirement level-{m.group(2)}">{body}</li>'
    m = _PARAM.match(body)
    if m:
        return f'<li id="{m.group(1)}" class="parameter">{body}</li>'
    return f"<li>{body}</li>"


def markdown_to_html(text: str) -> str:
    """The body HTML of one Markdown document (see the module docstring for the subset)."""
    lines = text.splitlines()
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    ordered = False
    i = 0

    def flush() -> None:
        nonlocal items
        if para:
            out.append(f"<p>{inline(' '.join(s.strip() for s in para))}</p>")
            para.clear()
        if items:
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(_list_item(t) for t in items) + f"</{tag}>")
            items = []

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence.group(1)):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
            continue
        if not line.strip():
            flush()
        elif (h := HEADING_RE.match(line)) is not None:
            flush()
            level, title = len(h.group(1)), h.group(2)
            out.append(f'<h{level} id="{slug(title)}">{inline(title)}</h{level}>')
        elif line.lstrip().startswith("|"):
            flush()
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
            continue
        elif (b := _BULLET.match(line)) is not None and not b.group(1):
            if para:
                flush()
            ordered = bool(re.match(r"^\d+\.", line))
            items.append(b.group(2))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            para.append(line)
        i += 1
    flush()
    return "\n".join(out)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222;
       line-height: 1.45; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
li.requirement {{ margin: 0.4em 0; }}
li:target {{ background: #fff3b0; outline: 2px solid #e0b000; }}
</style>
</head>
<body>
<p><a href="../report.html">&larr; compliance report</a></p>
{body}
</body>
</html>
"""


def rfc_page(path: Path) -> str:
    """One RFC file as a complete HTML page."""
    text = path.read_text(encoding="utf-8")
    first = next((ln for ln in text.splitlines() if ln.startswith("# ")), path.stem)
    return PAGE.format(title=html.escape(first.lstrip("# ").strip()), body=markdown_to_html(text))


def html_name(rfc_file: str | Path) -> str:
    """``RFC-0010-artifacts.md`` → ``RFC-0010-artifacts.html``."""
    return Path(rfc_file).with_suffix(".html").name


def rfc_links(rfc_dir: Path | None = None) -> dict[str, str]:
    """Requirement id → ``rfcs/<page>.html#<id>`` for every requirement in the catalog."""
    from ..errors import LensembleError
    from ..requirements import load_catalog

    try:
        catalog = load_catalog(rfc_dir)
    except (LensembleError, OSError):  # a report can still be rendered without the RFCs: ids just do not link
        return {}
    return {r.id: f"rfcs/{html_name(r.file)}#{r.id}" for r in catalog}


def write_rfc_pages(out_dir: Path, rfc_dir: Path | None = None) -> dict[str, Path]:
    """Write ``out_dir/rfcs/<RFC>.html`` for every RFC file; return name → path."""
    from ..artifacts.atomic import atomic_write_text
    from ..requirements import default_rfc_dir

    src = Path(rfc_dir) if rfc_dir is not None else default_rfc_dir()
    written: dict[str, Path] = {}
    for path in sorted(src.glob("RFC-*.md")):
        rel = f"rfcs/{html_name(path)}"
        written[rel] = atomic_write_text(Path(out_dir) / rel, rfc_page(path))
    return written


__all__ = ["html_name", "inline", "markdown_to_html", "rfc_links", "rfc_page", "slug", "write_rfc_pages"]
