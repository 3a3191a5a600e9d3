"""Word frequencies of args["text"], with the bundled textkit package.

Deployed as a zip (this file is the default handler, __main__.main).
Input:  {"text": "the cat and the hat", "top": 2}
Result: {"words": 5, "top": [["the", 2], ["and", 1]]}
"""
from textkit import words


def main(args):
    text = args.get("text", "") if isinstance(args, dict) else ""
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    top = args.get("top", 3)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError("top must be a positive integer")
    tokens = words.tokenize(text)
    return {"words": len(tokens), "top": words.most_common(tokens, top)}
