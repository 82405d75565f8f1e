"""Sentence splitting for sentence-pair objectives (BERT's NSP): a document → consecutive sentence spans.

Rules, in order (verse lines are *not* sentences: a line break alone never ends one):
1. A blank line ends a unit (paragraphs: speeches, stage directions, headings).
2. The first line of a paragraph whose first word is all capitals (≥ 2 letters) is a unit of its own, never
   split further: speaker names ("THESEUS", "LADY CAPULET") and headings ("ACT I", "SCENE II. Athens.").
3. Elsewhere a sentence ends after . ! or ? (plus closing quotes/brackets) followed by a line break, or by
   spaces and an upper-case letter (optionally after an opening quote) — except after an abbreviation
   such as "Mr." or "St.".
The spans partition the text exactly: `"".join(split_sentences(t)) == t`, each span carrying its trailing
whitespace, so consecutive sentences are consecutive text.
"""

import re

ABBREVIATIONS = frozenset(
    {
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "St",
        "Mt",
        "Jr",
        "Sr",
        "Messrs",
        "Prof",
        "Rev",
        "Capt",
        "Col",
        "Gen",
        "Lt",
        "Sgt",
        "vs",
        "etc",
        "viz",
        "cf",
        "i.e",
        "e.g",
        "No",
        "Co",
    }
)
_PARAGRAPH = re.compile(r"\S.*?(?:\n[ \t]*\n\s*|\s*\Z)", re.DOTALL)
_HEADING_LINE = re.compile(r"[A-Z][A-Z'’\-]*[A-Z]\b[^\n]*(?:\n\s*|\s*\Z)")
_SENTENCE_END = re.compile(r"[.!?]['\"’”)\]]*(?:[ \t]*\n\s*|[ \t]+(?=['\"‘“(\[]?[A-Z]))")
_WORD_BEFORE_DOT = re.compile(r"([\w.]+)\.$")


def _is_abbreviation(text: str) -> bool:
    """Whether `text` (ending with '.') ends with a known abbreviation."""
    m = _WORD_BEFORE_DOT.search(text)
    return bool(m) and m.group(1).split()[-1] in ABBREVIATIONS


def _split_run(text: str) -> list[str]:
    """Sentence spans of a run of text with no blank lines and no heading (rule 3)."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        punct_end = m.start() + 1
        if text[m.start()] == "." and _is_abbreviation(text[:punct_end]):
            continue
        if m.end() < len(text):
            out.append(text[start : m.end()])
            start = m.end()
    out.append(text[start:])
    return [s for s in out if s]


def split_sentences(text: str) -> list[str]:
    """Consecutive sentence spans of `text` (see the module docstring); whitespace-only text yields []."""
    lead = len(text) - len(text.lstrip())
    spans: list[str] = []
    for para in _PARAGRAPH.finditer(text):
        body = para.group(0)
        heading = _HEADING_LINE.match(body)
        if heading:
            spans.append(body[: heading.end()])
            body = body[heading.end() :]
        if body:
            spans += _split_run(body)
    if spans and lead:
        spans[0] = text[:lead] + spans[0]
    return spans
