"""What every report's charts share about the page they go on: nothing to show on a page
without data (its header says why, once), and the page's own sentences."""

from __future__ import annotations

from IPython.display import HTML

from crmkit.render import blocks

#: What a page without data shows in place of a chart, a table or a sentence: nothing.
NOTHING = HTML("")


def words(text: str, *, empty: bool = False) -> HTML:
    """One of a page's sentences (a test in words, a status); nothing on a page without
    data (``empty``) or for no text."""
    return NOTHING if empty or not text else blocks.text(text)
