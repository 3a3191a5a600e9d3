"""Splitting text into words and counting them."""
import re

_WORD = re.compile(r"[a-z0-9']+")


def tokenize(text):
    """The lower-cased words of text, in order."""
    return _WORD.findall(text.lower())


def most_common(tokens, n):
    """The n most frequent tokens as [word, count], most frequent first, ties
    in alphabetical order."""
    counts = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[w, c] for w, c in ranked[:n]]
