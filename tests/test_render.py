"""Rendering for people: document text is escaped, and invisible reordering characters are shown."""

from rag.render import escape, visible_controls


def test_a_right_to_left_override_is_written_out_not_obeyed():
    text = "Total: \u202e001 $\u202c due"
    shown = visible_controls(text)
    assert shown == "Total: ⟨RLO⟩001 $⟨PDF⟩ due"
    assert "\u202e" not in escape(text) and "&lt;b&gt;" in escape("<b>")


def test_ordinary_text_is_untouched():
    assert visible_controls("Café – 2013, naïve “quotes”") == "Café – 2013, naïve “quotes”"
