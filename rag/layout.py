"""Structure-aware reading of HTML: the page's content as blocks (headings, text, code, list
items, definition terms and descriptions, table rows), without its furniture.

Nothing here knows a particular site or generator. Furniture is recognised by what
pages of every generator mark it with: ARIA roles (navigation, banner, contentinfo),
and class or id names for navigation, sidebars, footers, breadcrumbs, tables of
contents and permalink marks (Sphinx, MkDocs, DocBook, Javadoc and news sites all
use them). When a page says where its main content is (``<main>``, ``role="main"``,
a single ``<article>``), only that is read.
"""

from __future__ import annotations

import re
from collections import Counter

from .cleaning import ends_sentence
from .types import Block

# Elements whose text is never content.
_SKIP_TAGS = frozenset(
    "script style noscript template svg head nav footer aside form button select iframe object -comment".split()
)
# Elements that end a run of text (a block of their own).
_BLOCK_TAGS = frozenset(
    "p div section article main header li ul ol dl dt dd h1 h2 h3 h4 h5 h6 blockquote pre table tr td th "
    "figure figcaption br hr address caption body html details summary center".split()
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# The kind a block element gives the text inside it; other blocks inherit their parent's.
_KINDS = {"li": "item", "dt": "term", "dd": "desc", "figcaption": "text", "caption": "text", "summary": "text"}
_FURNITURE_ROLES = frozenset("navigation banner contentinfo search complementary menu menubar toolbar".split())
# Words in a class or id that mark furniture ("sphinxsidebar", "md-footer", "navheader", "headerlink";
# Doxygen's hover tooltips, "ttc").
_FURNITURE_NAMES = frozenset(
    "nav navbar navigation navheader navfooter sidebar sphinxsidebar sphinxsidebarwrapper footer breadcrumb "
    "breadcrumbs toc toctree localtoc globaltoc related relbar menu skip headerlink viewcode searchbox share "
    "social cookie cookies pagination drawer tooltip ttc".split()
)
_NAME_SPLIT = re.compile(r"[\s_-]+")
# Icon-font glyphs (Font Awesome's link and menu icons) live in Unicode's private use area.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
# Class names of a box set apart from the text (DocBook's "note", "tip", "warning" divs): a
# heading inside one is the box's label ("Note"), not a section of the page.
_BOX_NAMES = frozenset("note tip warning caution important hint attention danger admonition seealso".split())
# Permalink marks left at the end of a heading when their link has no marking class.
_PERMALINK_TAIL = re.compile(r"[\s¶§🔗]+$")
# What inside a table cell makes the table a page layout, not data.
_LAYOUT_IN_CELL = ", ".join(f"{cell} {inner}" for cell in ("td", "th") for inner in ("table", "h1", "h2", "h3", "h4"))
_LONGEST_CELL = 1500
# Link relations of a navigation bar ("Next: …, Previous: …, Up: …"), and the longest such bar.
_PAGE_RELATIONS = frozenset("next prev previous up contents index start first last".split())
_NAVIGATION_LINE = 300


class Blocks:
    """Text assembled block by block, with each block's span in it (blocks are
    separated by a blank line, so the text also reads well on its own)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._layout: list[Block] = []
        self._pos = 0

    def add(self, text: str, kind: str, level: int = 0) -> bool:
        """Add a block (nothing for blank text); whether one was added."""
        if not text.strip():
            return False
        if self._parts:
            self._parts.append("\n\n")
            self._pos += 2
        self._parts.append(text)
        self._layout.append((self._pos, self._pos + len(text), kind, level))
        self._pos += len(text)
        return True

    def __len__(self) -> int:
        return len(self._layout)

    def text_of(self, i: int) -> str:
        return self._parts[2 * i]  # blocks alternate with their "\n\n" separators

    def kind_of(self, i: int) -> str:
        return self._layout[i][2]

    def level_of(self, i: int) -> int:
        return self._layout[i][3]

    def retype(self, i: int, kind: str, level: int = 0) -> None:
        self._layout[i] = (*self._layout[i][:2], kind, level)

    def result(self) -> tuple[str, tuple[Block, ...]]:
        return "".join(self._parts), tuple(self._layout)


# Whole class names of what a page hides from view until asked: rustdoc's "Expand
# description" toggles, mdBook's hidden lines of an example. (What only screen readers are
# shown, "sr-only", stays: it is often the words a symbol stands for, "Full support".)
_HIDDEN_CLASSES = frozenset("hidden hideme boring".split())
# Elements that hold the page itself, whatever their classes say.
_NEVER_FURNITURE = frozenset(("html", "body", "main"))
# A link to the page's source code: by its class (rustdoc's "source" beside each item), or
# by what it says in brackets ("[source]"); "the original source" in a sentence is a link.
_SOURCE_LINK_CLASSES = frozenset(("srclink", "src-link"))
_SOURCE_LINKS = frozenset(("[source]", "[src]"))
_SOURCE_PATH = re.compile(r"(?:^|/)src/")
# What a link to its own place shows instead of words.
_MARKS = frozenset(("#", "¶", "§", "🔗"))
# Responsive classes that show what "hidden" hides on wider screens (Tailwind's "sm:inline").
_SHOWN_ON_WIDER = re.compile(
    r"^(?:sm|md|lg|xl|2xl):(?:block|inline|inline-block|flex|inline-flex|grid|table|contents)$"
)


def _hidden(attrs) -> bool:
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    classes = (attrs.get("class") or "").lower().split()
    # "hidden sm:inline" is shown on wider screens (Tailwind's responsive classes)
    return not _HIDDEN_CLASSES.isdisjoint(classes) and not any(_SHOWN_ON_WIDER.match(name) for name in classes)


def _control(node) -> bool:
    """A link that is a control of the page, not a way to other text: a script's that says no
    word ("javascript:void(0)", rustdoc's "[−]"), a mark linking to its own place ("#"), one
    to the source code ("[source]"), or one carrying a whole example to run elsewhere ("Run",
    whose address holds the code)."""
    if node.tag != "a":
        return False
    attrs = node.attributes
    if not _SOURCE_LINK_CLASSES.isdisjoint((attrs.get("class") or "").lower().split()):
        return True
    said = node.text(deep=True).strip().lower()
    href = (attrs.get("href") or "").strip().lower()
    path, _, query = href.partition("?")
    if said in _SOURCE_LINKS or (said == "source" and _SOURCE_PATH.search(path)):
        return True  # "[source]"; Haddock's "Source" beside each function, to its code ("src/….html#")
    if href.startswith("javascript:") and not any(ch.isalnum() for ch in said):
        return True  # "[−]"; a script's link that names something ("erlang:send_after/3") is text
    if href.startswith("#") and said in _MARKS:
        return True  # a permalink mark ("#", "¶") beside a name, as Haddock writes its selflinks
    # A playground's "Run": the example's lines of code in the address (not a mailto's body).
    return href.startswith(("http://", "https://")) and "code=" in query and "%0a" in query


def is_furniture_element(node) -> bool:
    """Whether an element is navigation, a sidebar, a footer or a permalink mark, by its
    role, class and id, or is hidden."""
    attrs = node.attributes
    if not attrs:
        return False
    if _hidden(attrs) or _control(node):
        return True
    if (attrs.get("role") or "").lower() in _FURNITURE_ROLES:
        return True
    if node.tag in _NEVER_FURNITURE:
        return False  # Asciidoctor's <body class="article toc2 toc-left"> is the page itself
    # A heading's id is an anchor made from its words ("nav", "toc"): only its class says furniture.
    element_id = "" if node.tag in _HEADINGS else attrs.get("id") or ""
    names = f"{attrs.get('class') or ''} {element_id}".lower()
    if names.strip() and (not _FURNITURE_NAMES.isdisjoint(_NAME_SPLIT.split(names)) or "list-of-" in names):
        return True  # DocBook's "list-of-tables" is a table of contents too
    style = (attrs.get("style") or "").replace(" ", "").lower()
    return "display:none" in style


def in_furniture(node) -> bool:
    """Whether an element or one of its ancestors is furniture: navigation, a header, a
    footer, a sidebar (by tag, role or class) or hidden."""
    while node is not None and node.tag not in ("body", "html"):
        if node.tag in _SKIP_TAGS or node.tag == "header" or is_furniture_element(node):
            return True
        node = node.parent
    return False


def main_content(tree):
    """The element holding the page's main content, when the page says which."""
    for selector in ("main", "[role=main]"):
        found = tree.css(selector)
        if len(found) == 1:
            return found[0]
    articles = tree.css("article")
    if len(articles) == 1:
        return articles[0]
    return tree.body or tree.root


def inline_text(node) -> str:
    """The visible text under ``node``, furniture left out, whitespace collapsed."""
    parts: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        tag = current.tag
        if tag == "-text":
            parts.append(current.text(deep=False))
            continue
        if current is not node and (tag in _SKIP_TAGS or is_furniture_element(current)):
            continue
        if tag in _BLOCK_TAGS:
            parts.append(" ")
        stack.extend(reversed(list(current.iter(include_text=True))))
    return " ".join("".join(parts).split())


def _data_table(table) -> bool:
    """A table of data (rows of cells), not one that lays out a page: no cell holds a
    table, a heading or a long text of its own."""
    if table.css_first(_LAYOUT_IN_CELL) is not None:
        return False
    return all(len(cell.text(deep=True)) <= _LONGEST_CELL for cell in table.css("td, th"))


def _heading_link(node) -> bool:
    """For a link inside a heading: True when its text is the heading's own (a heading that
    links back to a table of contents), False when it is a mark ("¶", "#") or hidden."""
    attrs = node.attributes or {}
    return not _hidden(attrs) and any(ch.isalnum() for ch in node.text(deep=True))


def _page_link(node) -> bool:
    """A link to the next, previous or parent page (``rel``), as navigation bars carry."""
    rel = (node.attributes or {}).get("rel") or ""
    return not _PAGE_RELATIONS.isdisjoint(rel.lower().split())


def read_html_blocks(root) -> tuple[str, tuple[Block, ...]]:
    """The blocks of the content under ``root``, in reading order."""
    out = Blocks()
    buffer: list[str] = []
    kinds: list[tuple[str, int]] = [("text", 0)]
    paging = [False]  # the block being read links to the next, previous or parent page
    indents: list[tuple[float, str] | None] = [None]  # the left margin its style gives each open block
    indent_of: dict[int, tuple[float, str]] = {}  # ... and each block read

    def flush() -> None:
        joined = " ".join(_PRIVATE_USE.sub("", "".join(buffer)).split())
        # Separators left with nothing to separate when the links between them were controls
        # ("1.26.0 · source · [−]" is "1.26.0").
        joined = joined.strip(" ·•")
        buffer.clear()
        kind, level = kinds[-1]
        if kind == "desc":
            level -= 1  # a description is as deep as its term
        if kind in ("heading", "term"):
            joined = _PERMALINK_TAIL.sub("", joined)  # "Function: int mpfr_add (…) ¶"
        if paging[0] and len(joined) <= _NAVIGATION_LINE:
            joined = ""  # "Next: Parser, Previous: Exception handling, Up: R Language Definition"
        paging[0] = False
        if out.add(joined, kind, level) and indents[-1] is not None:
            indent_of[len(out) - 1] = indents[-1]

    sections: list[int | None] = []  # the level of the first heading of each open <article>/<section>

    # Iterative walk: hostile pages can nest deeper than Python's recursion limit.
    stack: list[tuple[object, bool]] = [(root, False)] if root is not None else []
    while stack:
        node, leaving = stack.pop()
        tag = node.tag  # type: ignore[attr-defined]
        if leaving:
            flush()
            kinds.pop()
            indents.pop()
            if tag in _SECTIONING:
                sections.pop()
            continue
        if tag == "-text":
            buffer.append(node.text(deep=False))  # type: ignore[attr-defined]
            continue
        if tag == "a" and kinds[-1][0] == "heading":
            if not _heading_link(node):
                continue
        elif tag in _SKIP_TAGS or is_furniture_element(node):
            continue
        if tag == "a" and _page_link(node):
            paging[0] = True
        inside = kinds[-1][1] if kinds[-1][0] != "heading" else 0  # descriptions (dd) this is in
        if tag == "pre":
            flush()
            out.add(_code_text(node), "code", inside)
            continue
        if tag == "div" and _line_per_element(node):
            flush()  # Doxygen's code fragments: a <div class="line"> per line of code
            out.add("\n".join(_code_text(line).replace("\n", " ") for line in _elements(node)), "code", inside)
            continue
        if tag in ("ul", "ol") and _contents_list(node):
            continue  # a list of links to the page's own sections: its table of contents
        if tag == "table" and _data_table(node):
            flush()
            _table(node, out, inside)
            continue
        if tag == "br" and kinds[-1][0] == "heading":
            buffer.append(" ")  # a heading is one line ("pub fn into_inner(self) where<br>T: Sized")
            continue
        if tag in _BLOCK_TAGS:
            flush()
            if tag in _HEADINGS and not _box_label(node, kinds[-1][0]):
                kinds.append(("heading", _section_level(sections, _HEADINGS[tag])))
            elif tag in _KINDS:
                # Outside headings, the second value counts the descriptions (dd) the block is in.
                kinds.append((_KINDS[tag], inside + (tag == "dd")))
            else:
                kinds.append(kinds[-1])
            indents.append(_indent(node) or indents[-1])
            if tag in _SECTIONING:
                sections.append(None)
            stack.append((node, True))
        children = list(node.iter(include_text=True))  # type: ignore[attr-defined]
        stack.extend((child, False) for child in reversed(children))
    flush()
    _indented_definitions(out, indent_of)
    _field_labels(out)
    return out.result()


_MARGIN_LEFT = re.compile(r"margin-left\s*:\s*([\d.]+)\s*(%|em|px|pt|ex)?", re.IGNORECASE)


_SECTIONING = frozenset(("article", "section"))


def _section_level(sections: list[int | None], level: int) -> int:
    """A heading's level in the page's outline: an <article> or <section> is headed by its
    first heading, and a heading of higher rank after it inside is one of its parts (Erlang's
    reference: each function an <article> headed by an <h4>, its "Types" an <h3>)."""
    if not sections or level == 1:
        return level  # a page's title is never a part (a news article's kicker comes before it)
    if sections[-1] is None:
        sections[-1] = level
        return level
    return sections[-1] + 1 if level < sections[-1] else level


def _indent(node) -> tuple[float, str] | None:
    """The left margin an element's own style sets ("margin-left:22%"), if any."""
    found = _MARGIN_LEFT.search((node.attributes or {}).get("style") or "")
    if found is None:
        return None
    try:
        return float(found.group(1)), (found.group(2) or "px").lower()
    except ValueError:
        return None


#: A term set apart by indentation is at most this long (an option and its arguments).
_INDENTED_TERM_CHARS = 150


def _indented_definitions(out: Blocks, indent_of: dict[int, tuple[float, str]]) -> None:
    """Definitions written as paragraphs indented by their style, as groff's and other man
    page converters write options: a short paragraph ("-o, --output-file=FILE") followed by
    paragraphs indented further ("write output to specified file") is a term and its
    description, so that they are read and quoted together."""
    i = 0
    while i < len(out) - 1:
        here, below = indent_of.get(i), indent_of.get(i + 1)
        text = out.text_of(i)
        if (
            here is not None
            and below is not None
            and here[1] == below[1]
            and below[0] > here[0]
            and out.kind_of(i) == out.kind_of(i + 1) == "text"
            and len(text) <= _INDENTED_TERM_CHARS
            and not ends_sentence(text)
        ):
            out.retype(i, "term")
            i += 1
            while i < len(out) and out.kind_of(i) == "text" and indent_of.get(i) == below:
                out.retype(i, "desc")
                i += 1
        else:
            i += 1


#: A list is a page's table of contents when it has this many items at least, each of
#: them (all but this share) only a link to a place in the same page ("#q1").
_CONTENTS_ITEMS = 3
_CONTENTS_OTHER_SHARE = 0.1


def _contents_list(node) -> bool:
    """A list whose items are only links to places in the same page ("1. How do I create
    an AUTOINCREMENT field?" linking to "#q1"): the page's own table of contents, which
    an excerpt would quote instead of the section it points to. Each item is read without
    the lists nested in it (they are judged on their own), so this stays linear."""
    items = [child for child in node.iter() if child.tag == "li"]
    if len(items) < _CONTENTS_ITEMS:
        return False
    allowed = _CONTENTS_OTHER_SHARE * len(items)
    other = 0
    for item in items:
        text, linked = _own_text(item)
        if not text or len(linked) < 0.9 * len(text):
            other += 1
            if other > allowed:
                return False
    return True


def _own_text(item) -> tuple[str, str]:
    """An item's visible text and the part of it in links to the same page ("#…"), leaving
    out lists nested in it, furniture and hidden elements."""
    parts: list[str] = []
    linked: list[str] = []
    stack = [(item, False)]
    while stack:
        current, local = stack.pop()
        if current.tag == "-text":
            words = current.text(deep=False)
            parts.append(words)
            if local:
                linked.append(words)
            continue
        if current is not item and (
            current.tag in ("ul", "ol") or current.tag in _SKIP_TAGS or is_furniture_element(current)
        ):
            continue
        if current.tag == "a" and ((current.attributes or {}).get("href") or "").startswith("#"):
            local = True
        stack.extend((child, local) for child in reversed(list(current.iter(include_text=True))))
    return " ".join("".join(parts).split()), " ".join("".join(linked).split())


#: A definition term this short ending in a colon is a field's label ("Returns:", "Since:").
_FIELD_LABEL_CHARS = 40
#: ... when what it labels is shorter than this ("3.5", "this", "the split time").
_FIELD_VALUE_CHARS = 300


#: A term that is a field's label and its value ("since: 2.0.00", "arg1: $key ( string )",
#: as pod2html writes an API entry's notes).
_LABELLED_VALUE = re.compile(r"^([a-z][\w-]{0,14}):\s+\S.{0,80}(?<!\?)$")
_FIELD_LABEL_REPEATS = 3


def _field_labels(out: Blocks) -> None:
    """Fields written as a definition list ("Returns:" then "this", "Since:" then "3.5", as
    Javadoc writes a method's notes; "since: 2.0.00" and nothing, as pod2html does) are
    ``field`` blocks of the entry they belong to, not definitions of their own: each would
    otherwise be a passage of a few words, cut off from the method it describes. Like table
    rows, they are never dropped as repeats or as too short ("3.5")."""
    # A label that recurs before values ("since: 2.0.00" in every entry of a page), not an
    # attribute's name and type, which each entry has its own of ("data_version: int").
    labels = Counter(
        found.group(1)
        for i in range(len(out))
        if out.kind_of(i) == "term" and (found := _LABELLED_VALUE.match(out.text_of(i)))
    )
    i = 0
    while i < len(out):
        text = out.text_of(i)
        end = i + 1
        label = len(text) <= _FIELD_LABEL_CHARS and text.rstrip().endswith(":")
        found = _LABELLED_VALUE.match(text)
        if out.kind_of(i) == "term" and (label or (found and labels[found.group(1)] >= _FIELD_LABEL_REPEATS)):
            level = out.level_of(i)
            while end < len(out) and out.kind_of(end) == "desc" and out.level_of(end) == level:
                end += 1
            # A glossary's entry ("Apple:" and a paragraph) stays a definition of its own.
            if sum(len(out.text_of(j)) for j in range(i + 1, end)) < _FIELD_VALUE_CHARS:
                for j in range(i, end):
                    out.retype(j, "field", level)
        i = end


def _box_label(heading, around: str) -> bool:
    """Whether a heading labels a box (a note, a tip) or a list item rather than opening a
    section: its parent's class names a box, or it sits in a list item or a description
    (``around``) other than as the heading of a section there (Javadoc writes each
    method's details as a <section> in a list item). Its section would otherwise run on
    past the box or the list."""
    parent = heading.parent
    if parent is None:
        return False
    if around in ("item", "desc") and parent.tag not in ("section", "article"):
        return True
    names = (parent.attributes or {}).get("class") or ""
    return not _BOX_NAMES.isdisjoint(_NAME_SPLIT.split(names.lower()))


def _elements(node) -> list:
    """The element children of ``node``, furniture (a code line's hover tooltips) left out."""
    return [child for child in node.iter() if child.tag != "-text" and not is_furniture_element(child)]


def _line_per_element(node) -> bool:
    """A block written as one element per line of code ("<div class="line">…</div>", as
    Doxygen writes its code fragments): at least two, every child such a line."""
    children = _elements(node)
    if any(child.tag == "-text" and child.text(deep=False).strip() for child in node.iter(include_text=True)):
        return False  # text of its own besides the lines
    return len(children) >= 2 and all(
        child.tag == "div" and "line" in ((child.attributes or {}).get("class") or "").split() for child in children
    )


def _code_text(node) -> str:
    """A ``<pre>`` block's text exactly, line breaks kept, furniture (line-number gutters,
    copy buttons) left out; only blank lines at its ends are dropped."""
    parts: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.tag == "-text":
            parts.append(current.text(deep=False))
            continue
        if current is not node and (current.tag in _SKIP_TAGS or is_furniture_element(current)):
            continue
        if current.tag == "br":
            parts.append("\n")
        stack.extend(reversed(list(current.iter(include_text=True))))
    lines = "".join(parts).replace("\r\n", "\n").replace("\r", "\n").expandtabs(8).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


#: A signature laid out in a table has a row per parameter at most: this many rows.
_SIGNATURE_ROWS = 30


def _table(table, out: Blocks, inside: int = 0) -> None:
    """A data table row by row: each row its cells joined by " | ", header rows marked
    (``inside``: how many definitions' descriptions the table is in)."""
    caption = table.css_first("caption")
    if caption is not None:
        out.add(inline_text(caption), "text", inside)
    rows = [(row, [c for c in row.iter() if c.tag in ("td", "th")]) for row in table.css("tr")]
    texts = [[inline_text(c) for c in cells] for _, cells in rows]  # each cell read once
    if len(rows) <= _SIGNATURE_ROWS and any(len(row) > 2 and row[0] and row[1] == "(" for row in texts):
        # A signature laid out in a table (Doxygen: "int json_object_put | ( | struct json_object * | obj | )"):
        # one line of code, its cells read in order.
        out.add(" ".join(" ".join(cell for cell in row if cell) for row in texts if any(row)), "text", inside)
        return
    for (row, cells), row_texts in zip(rows, texts, strict=True):
        if not any(row_texts):
            continue
        in_head = row.parent is not None and row.parent.tag == "thead"
        header = in_head or all(c.tag == "th" for c in cells)
        out.add(" | ".join(row_texts), "header" if header else "row", inside)
