"""URL extraction as X does it when it counts a post's length and rewrites links to t.co.

A re-implementation of the twitter-text extractor grammar (``twitter/twitter-text`` ``extractUrlsWithIndices``),
sized for what Herald posts: protocol URLs (``http``/``https``) and protocol-less domains whose TLD is known (see
:mod:`herald.platforms.x.tlds`). Each URL counts 23 towards the weighted length whatever its real length, so a URL
the extractor misses is counted character by character (too long, never too short).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from herald.platforms.x.tlds import ALL_TLDS

MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40

_PUNCT = re.escape("!'#%&()*+,\\-./:;<=>?@[]^_{|}~$")
_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272"
    "\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"

# A domain label character is anything but ASCII punctuation, spaces, invalid and directional characters.
_D = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
# Labels are runs of label characters joined by hyphens (subdomains may also use "_"). Written so that no two
# quantifiers compete for the same characters, which keeps the regex linear per start position.
_SUBDOMAIN = f"(?:{_D}++(?:[_-]++{_D}++)*+\\.)"
_DOMAIN_NAME = f"(?:{_D}++(?:-++{_D}++)*+\\.)"
_TLD = "(?:(?:" + "|".join(sorted(map(re.escape, ALL_TLDS), key=len, reverse=True)) + ")(?=[^0-9a-z@+-]|$))"
_PUNYCODE = "(?:xn--[-0-9a-z]+)"
_DOMAIN = f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_TLD}|{_PUNYCODE}))"

_URL = re.compile(f"(?P<url>(?P<protocol>https?://)?(?P<domain>{_DOMAIN})(?::[0-9]++)?)", re.IGNORECASE)
# Where a URL may start: after a character that may precede one (not a letter, digit, @, $, # or an invalid
# character) or at the start, on a protocol or a label character.
_BEFORE = f"[^A-Za-z0-9@\uff20$#\uff03{_INVALID}]"
_CANDIDATE = re.compile(f"(?:^|(?<={_BEFORE}))(?:https?://|{_D})", re.IGNORECASE)
_LEADING = re.compile(_BEFORE)
_D_RUN = re.compile(f"{_D}++")

_PATH_CHAR = f"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]\\-\u2013_~@|&{_LATIN_ACCENTS}]"
_PATH_END = f"[+\\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]"
_BALANCED_PARENS = f"\\((?:{_PATH_CHAR}+|{_PATH_CHAR}*\\({_PATH_CHAR}+\\){_PATH_CHAR}*)\\)"
# twitter-text's path grammar, including its precedence quirk: the "ending" alternative of balanced parentheses
# is not grouped, so a path segment either ends with an ending character, or is exactly "(...)", or is "@x/".
# Greedy, and nothing after it can fail, so the regex never backtracks far.
_SEGMENT = f"(?:{_PATH_CHAR}*(?:{_BALANCED_PARENS}{_PATH_CHAR}*)*{_PATH_END})"
_URL_PATH = f"(?:{_SEGMENT}|{_BALANCED_PARENS}|(?:@{_PATH_CHAR}+/))"
_PATH = re.compile(f"/{_URL_PATH}*", re.IGNORECASE)
_QUERY = re.compile(r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*+", re.IGNORECASE)
_QUERY_END = re.compile(r"[a-z0-9\-_&=#/]", re.IGNORECASE)
_ASCII_DOMAIN = re.compile(f"(?:[-a-z0-9{_LATIN_ACCENTS}]+\\.)+(?:{_TLD}|{_PUNYCODE})", re.IGNORECASE)
_TCO = re.compile(r"^https?://t\.co/([a-z0-9]+)(?:\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/])?", re.I)


@dataclass(frozen=True)
class UrlSpan:
    """One URL found in a text: ``text[start:end] == url``."""

    start: int
    end: int
    url: str


def extract_urls(text: str) -> list[UrlSpan]:
    """Every URL X would link (and count as 23) in ``text``, in order."""
    if "." not in text:
        return []
    spans: list[UrlSpan] = []
    next_start = 0  # a URL starts after the character following the previous candidate's end
    dead_end = 0  # candidates before this, inside a label run that cannot lead to a domain, are skipped
    # twitter-text's pattern prefers taking a first character that may precede a URL as that preceding character
    # over the start of the text, so a URL starting at index 1 wins over one starting at 0 ("łt.co" -> "t.co").
    if _LEADING.match(text) and (leading := _URL.match(text, 1)) is not None:
        end = _extend_with_path_and_query(text, leading.end())
        spans.extend(_accept(text, leading, end))
        next_start = end + 1
    for candidate in _CANDIDATE.finditer(text):
        start = candidate.start()
        is_protocol = candidate.end() - start > 1
        if start < next_start or (start < dead_end and not is_protocol):
            continue
        match = _URL.match(text, start)
        if match is None:
            if not is_protocol:
                # A label from any later start in this run of label characters reaches the same run end and
                # fails the same way. Skipping them keeps long texts without spaces (CJK) linear.
                dead_end = _run_end(text, start)
            continue
        end = _extend_with_path_and_query(text, match.end())
        spans.extend(_accept(text, match, end))
        next_start = end + 1
    return spans


def _run_end(text: str, start: int) -> int:
    run = _D_RUN.match(text, start)
    return run.end() if run is not None else start + 1


def _extend_with_path_and_query(text: str, end: int) -> int:
    """Extend a URL ending at ``end`` over its path and query (a query is trimmed to a valid last character)."""
    path = _PATH.match(text, end)
    if path is not None:
        end = path.end()
    query = _QUERY.match(text, end)
    return _query_end(text, query.start() + 1, query.end()) or end if query is not None else end


def _query_end(text: str, start: int, end: int) -> int | None:
    """The query ``text[start:end]`` shortened to its last character allowed to end one (None if none is)."""
    while end > start and not _QUERY_END.match(text, end - 1):
        end -= 1
    return end if end > start else None


def _accept(text: str, match: re.Match[str], end: int) -> list[UrlSpan]:
    """Validate a candidate the way twitter-text does; protocol-less candidates keep only their ASCII domains."""
    domain = match.group("domain")
    start = match.start("url")
    url = text[start:end]
    protocol = match.group("protocol") or "https://"
    if not _valid_domain(domain, len(url), protocol):
        return []
    if match.group("protocol"):
        return _with_protocol(start, url)
    return _without_protocol(match, end)


def _valid_domain(domain: str, url_length: int, protocol: str) -> bool:
    """The host must survive IDNA (punycode) encoding: labels of at most 63 characters, none empty."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(ascii_domain) and len(protocol) + url_length + len(ascii_domain) - len(domain) <= MAX_URL_LENGTH


def _with_protocol(start: int, url: str) -> list[UrlSpan]:
    tco = _TCO.match(url)
    if tco is not None:
        if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
            return []
        url = tco.group(0)  # t.co links take no extra path characters
    return [UrlSpan(start, start + len(url), url)]


def _without_protocol(match: re.Match[str], end: int) -> list[UrlSpan]:
    start = match.start()
    if start > 0 and match.string[start - 1] in "-_./":
        return []
    domain_start = match.start("domain")
    found = [
        UrlSpan(domain_start + m.start(), domain_start + m.end(), m.group(0))
        for m in _ASCII_DOMAIN.finditer(match.group("domain"))
    ]
    if not found:
        return []
    last = found[-1]
    has_path = end > match.end("url") and match.string[match.end("url")] == "/"
    if has_path:
        found[-1] = UrlSpan(last.start, end, match.string[last.start : end])
    return found
