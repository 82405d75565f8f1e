"""Plays → speeches → passages: the units that the genre objectives classify.

A speech starts at a paragraph (blank-line separated) of at least two lines whose first line is a speaker
name — at most five words, each capitalised (or one of of/the/and/de/du/la/le), with no punctuation other
than apostrophes and hyphens: "THESEUS", "LADY CAPULET", "First Citizen", "Provost". It runs to the next such
paragraph, so stage directions and headings between speeches belong to the speech before them. Text before
the first speech (the title and the opening headings) is dropped. A passage is `n` consecutive speeches of
one document; passages never overlap and never cross documents (an incomplete last group is dropped).
"""

import re

from jaxlm.data.corpus import Document

_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_WORD = r"(?:[A-Z][A-Za-z'’\-]*|of|the|and|de|du|la|le)"
_SPEAKER = re.compile(rf"{_WORD}(?: {_WORD}){{0,4}}")


def is_speech_start(paragraph: str) -> bool:
    """Whether a paragraph opens a speech: a speaker-name line followed by at least one more line."""
    first, _, rest = paragraph.strip().partition("\n")
    return bool(rest.strip()) and _SPEAKER.fullmatch(first.strip()) is not None


def speeches(text: str) -> list[str]:
    """The speeches of a play, in order, each with its trailing directions (stripped of outer whitespace)."""
    out: list[list[str]] = []
    for para in _PARAGRAPH.split(text):
        if is_speech_start(para):
            out.append([para.strip()])
        elif out and para.strip():
            out[-1].append(para.strip())
    return ["\n\n".join(parts) for parts in out]


def passages(doc: Document, n: int) -> list[str]:
    """Non-overlapping runs of `n` consecutive speeches of one document, joined by a blank line."""
    s = speeches(doc.text)
    return ["\n\n".join(s[i : i + n]) for i in range(0, len(s) - n + 1, n)]
