"""A small bash lexer that finds expansions used as command words without quotes.

``cp $src $dst`` splits and globs paths with spaces or ``*`` in them; the
recipes must write ``cp -- "${src}" "${dst}"``. This is the check that runs
everywhere; where ShellCheck is installed the tests also run it (SC2086 and
friends).
"""

from __future__ import annotations

import re

_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_KEEP_SPLIT = {"for", "select"}  # "for x in ${list}": splitting a list on purpose
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_DECL = {"local", "export", "declare", "readonly", "typeset"}


def _match(text: str, i: int, open_: str, close: str) -> int:
    """Index just past the ``close`` matching the ``open_`` at ``i`` (quotes and nesting skipped)."""
    depth, j = 0, i
    while j < len(text):
        if text.startswith(open_, j):
            depth += 1
            j += len(open_)
            continue
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "'" and open_ != "${":
            j = text.index("'", j + 1) + 1 if "'" in text[j + 1 :] else len(text)
            continue
        if c == '"':
            j = _skip_dq(text, j + 1)
            continue
        if text.startswith(close, j):
            depth -= 1
            j += len(close)
            if depth == 0:
                return j
            continue
        j += 1
    return len(text)


def _skip_dq(text: str, j: int) -> int:
    """Index just past the closing double quote of a string starting at ``j``."""
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
        elif c == '"':
            return j + 1
        elif text.startswith("$(", j) and not text.startswith("$((", j):
            j = _match(text, j + 1, "(", ")")
        elif text.startswith("${", j):
            j = _match(text, j, "${", "}")
        else:
            j += 1
    return j


def unquoted_expansions(text: str) -> list[tuple[int, str]]:
    """(line, expansion) of every ``$var``, ``${...}`` or ``$(...)`` used as a command word without quotes.

    Safe places are not reported: assignments, ``[[ ]]``, ``(( ))``, ``case WORD in``,
    ``for x in WORDS``, ``$?``/``$#``/``$$`` and the ``${a[@]+"${a[@]}"}`` idiom.
    """
    out = []
    i, n = 0, len(text)
    words: list[str] = []  # words of the current simple command so far
    word_start = True
    word_safe = False  # the current word is an assignment (no splitting there)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            word_start = False
            continue
        if c in " \t":
            i += 1
            word_start = True
            continue
        if c in "\n;&|(){}":
            if c == "(" and text.startswith("((", i):
                i = _match(text, i, "((", "))")
                continue
            i += 1
            if c in "\n;&|":
                words = []
            word_start = True
            continue
        heredoc = _HEREDOC.match(text, i)
        if heredoc:  # skip the body, up to the terminator line
            end = re.compile(rf"^\t*{re.escape(heredoc.group(2))}$", re.M).search(text, text.find("\n", i) + 1)
            i = end.end() if end else n
            words = []
            continue
        if c == "#" and word_start:
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if word_start:
            m = _ASSIGN.match(text, i)
            word_safe = bool(m) and (not words or words[0] in _DECL or all(_ASSIGN.match(w) for w in words))
            if text.startswith("[[", i) and (i + 2 >= n or text[i + 2] in " \t\n"):
                i = text.find("]]", i) + 2 if "]]" in text[i:] else n
                continue
            end = i
            while end < n and text[end] not in " \t\n;&|()":
                end += 1
            words.append(text[i:end])
            word_start = False
        if c == "'":
            i = text.find("'", i + 1) + 1 or n
            continue
        if c == '"':
            i = _skip_dq(text, i + 1)
            continue
        if c == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "'":  # $'...': a quoted string
                i = text.find("'", i + 2) + 1 or n
                continue
            if text.startswith("$((", i):
                i = _match(text, i + 1, "((", "))")
                continue
            if nxt == "(":
                j = _match(text, i + 1, "(", ")")
            elif nxt == "{":
                j = _match(text, i, "${", "}")
            elif re.match(r"[A-Za-z_@*0-9]", nxt):
                j = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|[@*0-9])", text[i:]).end() + i
            else:  # $? $# $$ $- $!: never split into several words
                i += 2
                continue
            exp = text[i:j]
            safe = (
                word_safe
                or (words and words[0] == "case")
                or (words and words[0] in _KEEP_SPLIT and "in" in words[1:-1])
                or re.fullmatch(r'\$\{(\w+)\[@\]\+"\$\{\1\[@\]\}"\}', exp)
            )
            if not safe:
                out.append((text.count("\n", 0, i) + 1, exp))
            i = j
            continue
        i += 1
    return out
