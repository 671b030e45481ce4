"""URL extraction as X does it when it counts a post's length and rewrites links to t.co.

A re-implementation of twitter-text's ``extractUrlsWithIndices`` (https://github.com/twitter/twitter-text, npm 3.1.0,
which https://docs.x.com/fundamentals/counting-characters names as the authority): protocol URLs (``http``/``https``)
and protocol-less domains whose TLD twitter-text knows (see :mod:`herald.platforms.x.tlds`). Each URL counts 23
towards the weighted length whatever its real length, so a URL found where X finds none, or missed where X finds one,
counts differently from X; tests/platforms/test_x_oracle.py holds it to the official library, quirks included (its
JavaScript regexes run on UTF-16 code units with ``/i`` case folding, and its own ``idna`` check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from herald.platforms.x.tlds import COUNTRY_TLDS, GENERIC_TLDS

MAX_URL_LENGTH = 4096
MAX_DOMAIN_LABEL_LENGTH = 63
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
# quantifiers compete for the same characters, which keeps the regex linear per start position. The repeated group
# is atomic (``(?>(?:...)*)``), not possessive (``(?:...)*+``), which means the same: the ``re`` of CPython 3.11.2
# (Debian bookworm's, in Herald's images; later 3.11 releases fixed it) matches a possessive group wrongly, taking
# "a-." for a label that ends in "-" (tests/platforms/test_x_rules.py).
_SUBDOMAIN = f"(?:{_D}++(?>(?:[_-]++{_D}++)*)\\.)"
_DOMAIN_NAME = f"(?:{_D}++(?>(?:-++{_D}++)*)\\.)"
# In twitter-text's order (generic, then country codes): the first alternative that matches wins.
_TLD = "(?:(?:" + "|".join(map(re.escape, GENERIC_TLDS + COUNTRY_TLDS)) + ")(?=[^0-9a-z@+-]|$))"
_PUNYCODE = "(?:xn--[-0-9a-z]+)"
_DOMAIN = f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_TLD}|{_PUNYCODE}))"

_URL = re.compile(f"(?P<url>(?P<protocol>https?://)?(?P<domain>{_DOMAIN})(?::[0-9]++)?)", re.IGNORECASE)
# Where a URL may start: after a character that may precede one (not a letter, digit, @, $, # or an invalid
# character) or at the start, on a protocol or a label character.
_BEFORE = f"[^A-Za-z0-9@\uff20$#\uff03{_INVALID}]"
# twitter-text's regexes run on UTF-16 code units, so an astral character (an emoji) is two domain characters, and
# the first may serve as the character before a URL whose domain starts with the second. So a protocol-less domain
# may also start at an astral character whatever precedes it ("split").
_CANDIDATE = re.compile(f"(?:^|(?<={_BEFORE}))(?:https?://|{_D})|(?P<split>[\U00010000-\U0010ffff])", re.IGNORECASE)
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
_DOT_SEPARATORS = re.compile("[.\u3002\uff0e\uff61]")
_NON_ASCII = re.compile("[^\x20-\x7e]")
_TCO = re.compile(r"^https?://t\.co/([a-z0-9]+)(?:\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/])?", re.I)


@dataclass(frozen=True)
class UrlSpan:
    """One URL found in a text, at ``text[start:end]``.

    ``url`` is the URL as twitter-text reports it, which is ``text[start:end]`` except in one twitter-text quirk: a
    protocol-less URL with a path whose domain has non-ASCII labels keeps only its last ASCII domain and the path
    (``"a-b.ไทย.com/x"`` becomes ``"a-b.ไทย/x"``), while the span still covers the whole. X's counter skips
    ``len(url)`` characters from ``start`` for it, not the span, and so does :mod:`herald.platforms.x.counting`.
    """

    start: int
    end: int
    url: str


# Python's case-insensitive matching pairs a few non-ASCII letters with ASCII ones (dotted and dotless I, long S,
# the Kelvin and Angstrom signs); twitter-text's JavaScript regexes (``/i`` without ``u``) do not. The patterns run
# on a copy of the text with those letters replaced by stand-ins that the regexes treat the way JavaScript treats
# the originals (a Latin letter with accent; a symbol that is only a domain character); the URLs are cut from the
# original text.
_JS_CASE_VIEW = str.maketrans(
    {"\u0130": "\u0100", "\u0131": "\u0100", "\u017f": "\u0100", "\u212a": "\u212e", "\u212b": "\u212e"}
)


def extract_urls(text: str) -> list[UrlSpan]:
    """Every URL X would link (and count as 23) in ``text``, in order."""
    if "." not in text:
        return []
    view = text.translate(_JS_CASE_VIEW)
    spans: list[UrlSpan] = []
    next_start = 0  # a URL starts after the character following the previous candidate's end
    dead_end = 0  # candidates before this, inside a label run that cannot lead to a domain, are skipped
    # twitter-text's pattern prefers taking a first character that may precede a URL as that preceding character
    # over the start of the text, so a URL starting at index 1 wins over one starting at 0 ("łt.co" -> "t.co").
    # An astral first character splits instead (its second half starts the domain): the loop handles that.
    if _LEADING.match(view) and not _astral(view[0]) and (leading := _URL.match(view, 1)) is not None:
        end = _extend_with_path_and_query(view, leading.end())
        spans.extend(_accept(text, leading, end))
        next_start = end + 1
    for candidate in _CANDIDATE.finditer(view):
        start = candidate.start()
        # The character after a URL is the next one's preceding character, unless it is astral and splits.
        split = candidate.group("split") is not None or (start in (0, next_start - 1) and _astral(view[start]))
        is_protocol = candidate.end() - start > 1
        if start < next_start - split or (start < dead_end and not is_protocol):
            continue
        match = _URL.match(view, start)
        if match is None:
            if not is_protocol:
                # A label from any later start in this run of label characters reaches the same run end and
                # fails the same way. Skipping them keeps long texts without spaces (CJK) linear.
                dead_end = _run_end(view, start)
            continue
        end = _extend_with_path_and_query(view, match.end())
        spans.extend(_accept(text, match, end, split))
        next_start = end + 1
    return spans


def _astral(char: str) -> bool:
    return ord(char) > 0xFFFF


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


def _accept(text: str, match: re.Match[str], end: int, split: bool = False) -> list[UrlSpan]:
    """Validate a candidate the way twitter-text does; protocol-less candidates keep only their ASCII domains.

    ``match`` ran on the case view of ``text``; every string is cut from ``text`` itself.
    """
    domain = text[match.start("domain") : match.end("domain")]
    start = match.start("url")
    url = text[start:end]
    protocol = text[match.start("protocol") : match.end("protocol")] or "https://"
    checked_domain, checked_url = domain, url
    if split:
        # twitter-text's domain starts with the second UTF-16 half of the astral character: that is what it checks.
        checked_domain = _low_surrogate(domain[0]) + domain[1:]
        checked_url = _low_surrogate(url[0]) + url[1:]
    if not _valid_domain(
        checked_domain, match.string[match.start("domain") : match.end("domain")], checked_url, protocol
    ):
        return []
    if match.group("protocol"):
        return _with_protocol(start, url, match.string[start:end])
    return _without_protocol(text, match, end, split)


def _low_surrogate(char: str) -> str:
    return chr(0xDC00 + ((ord(char) - 0x10000) & 0x3FF)) if _astral(char) else char


def _valid_domain(domain: str, domain_view: str, url: str, protocol: str) -> bool:
    """twitter-text's ``isValidUrl`` with its own ``idna.toAscii`` (not IDNA 2003/2008: no nameprep, no mapping).

    A domain starting ``xn--`` must contain an ASCII domain; every label, punycode-encoded when it has a character
    outside printable ASCII, must be 1 to 63 characters; and the URL with its protocol at most 4096 UTF-16 units.
    """
    if domain.startswith("xn--") and _ASCII_DOMAIN.search(domain_view) is None:
        return False
    if not all(1 <= len(_punycode_label(label)) <= MAX_DOMAIN_LABEL_LENGTH for label in domain.split(".")):
        return False
    return _utf16_length(protocol) + _utf16_length(url) <= MAX_URL_LENGTH


def _punycode_label(label: str) -> str:
    """punycode.js 1.4.1 ``toASCII`` of one label: it splits again at ideographic and full-width dots."""
    return ".".join(_punycode(part) if _NON_ASCII.search(part) else part for part in _DOT_SEPARATORS.split(label))


def _punycode(label: str) -> str:
    try:
        return "xn--" + label.encode("punycode").decode("ascii")
    except UnicodeError:  # a lone surrogate: no valid label
        return ""


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _with_protocol(start: int, url: str, url_view: str) -> list[UrlSpan]:
    tco = _TCO.match(url_view)
    if tco is not None:
        if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
            return []
        url = url[: tco.end()]  # t.co links take no extra path characters
    return [UrlSpan(start, start + len(url), url)]


def _without_protocol(text: str, match: re.Match[str], end: int, split: bool) -> list[UrlSpan]:
    start = match.start()
    if not split and start > 0 and text[start - 1] in "-_./":
        return []
    domain_start, domain_end = match.span("domain")
    domain = text[domain_start:domain_end]
    found: list[UrlSpan] = []
    position = 0
    for ascii_domain in _ASCII_DOMAIN.finditer(match.group("domain")):
        # twitter-text places each ASCII domain with ``domain.indexOf(asciiDomain, previousEnd)``: an earlier copy
        # of the same text wins over where the regex found it.
        found_at = domain.find(text[domain_start + ascii_domain.start() : domain_start + ascii_domain.end()], position)
        position = found_at + len(ascii_domain.group())
        found.append(UrlSpan(domain_start + found_at, domain_start + position, domain[found_at:position]))
    if not found:
        return []
    last = found[-1]
    has_path = end > match.end("url") and text[match.end("url")] == "/"
    if has_path:
        # twitter-text: ``lastUrl.url = url.replace(domain, lastUrl.url)``, the span running to the URL's end.
        found[-1] = UrlSpan(last.start, end, last.url + text[domain_end:end])
    return found
