"""Blocks over a file's own lines, for the readers of line-based markup (Markdown,
reStructuredText): the span of a run of lines, and the lines no block holds read as text."""

from __future__ import annotations

from collections.abc import Callable

from .types import Block


def with_unread_lines(
    text: str,
    starts: list[int],
    layout: list[Block],
    accounted: set[int],
    markup: Callable[[str], bool] = lambda line: False,
) -> list[Block]:
    """The blocks, and as text blocks any run of lines that no block holds, that is not
    ``accounted`` for as markup and that ``markup`` does not call so (nesting past
    ``MAX_NESTING``, or a parser's surprise): nothing is left unread."""
    held = bytearray(len(text) + 1)
    for start, end, _, _ in layout:
        held[start:end] = b"\1" * (end - start)
    extra: list[Block] = []
    run: list[int] = []

    def close() -> None:
        if run and (where := lines_span(text, starts, [run[0], run[-1] + 1])):
            extra.append((*where, "text", 0))
        run.clear()

    for number in range(len(starts) - 1):
        start, end = starts[number], min(starts[number + 1] - 1, len(text))
        line = text[start:end]
        unread = line.strip() and number not in accounted and not any(held[start:end]) and not markup(line)
        if unread:
            run.append(number)
        else:
            close()
    close()
    return sorted([*layout, *extra]) if extra else layout


def lines_span(
    text: str, starts: list[int], lines: list[int] | None, keep_indent: bool = False
) -> tuple[int, int] | None:
    """The span of source lines ``lines[0]`` to ``lines[1]`` (excluded), blank ends trimmed,
    and white space at its start too unless ``keep_indent``; None when nothing is left."""
    if not lines:
        return None
    start, end = starts[lines[0]], starts[min(lines[1], len(starts) - 1)] - 1
    while start < end and (text[start] == "\n" if keep_indent else text[start].isspace()):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if text[start:end].strip() else None
