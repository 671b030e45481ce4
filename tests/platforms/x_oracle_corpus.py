"""Inputs for the X counting oracle: emoji test data, twitter-text's conformance texts, TLDs, IDN and random mixes.

Every family is deterministic (fixed seeds, pinned packages), so a disagreement found once is found every run.
"""

# ruff: noqa: RUF001  (other scripts, CJK and typographic characters are the point of these inputs)

from __future__ import annotations

import random
import re

import yaml

from tests.support import twitter_text_oracle as oracle

SEED = 20261204
RANDOM_TEXTS = 3000

# emoji-test-regex-pattern's index-strings.txt lists every sequence of Unicode's emoji-test.txt of that Emoji
# version, whatever its status (fully-qualified, minimally-qualified, unqualified, component).
EMOJI_STRINGS = "emoji-test-regex-pattern/dist/latest/index-strings.txt"


def emoji_sequences() -> list[str]:
    """Every emoji sequence of the latest emoji-test.txt (Emoji 18.0 in emoji-test-regex-pattern 2.6.0)."""
    text = oracle.installed_file(EMOJI_STRINGS).read_text(encoding="utf-8")
    return [line for line in text.split("\n") if line]


def emoji_texts() -> list[str]:
    """Each sequence alone, with a text presentation selector after it, between letters, and in runs of seven."""
    sequences = emoji_sequences()
    texts: list[str] = []
    for sequence in sequences:
        texts += [sequence, sequence + "\ufe0e", f"a{sequence}b"]
    texts += ["".join(sequences[i : i + 7]) for i in range(0, len(sequences), 7)]
    return texts


def conformance_texts() -> list[str]:
    """Every text of twitter-text's extract.yml and validate.yml conformance suites."""
    texts: list[str] = []
    for name in ("extract.yml", "validate.yml"):
        suite = yaml.safe_load((oracle.CONFORMANCE_DIR / name).read_text(encoding="utf-8"))
        texts += [case["text"] for cases in suite["tests"].values() for case in cases if isinstance(case["text"], str)]
    return texts


def twitter_text_tlds() -> list[str]:
    """The TLDs of the installed twitter-text (generic first, then country codes, in its own order)."""
    tlds: list[str] = []
    for name in ("validGTLD.js", "validCCTLD.js"):
        source = oracle.installed_file(f"twitter-text/dist/regexp/{name}").read_text(encoding="utf-8")
        body = source[source.index("RegExp('(?:(?:'") : source.index("')(?=")]
        tlds += "".join(re.findall(r"'([^']*)'", body))[len("(?:(?:") :].split("|")
    return tlds


# Delegated TLDs that twitter-text 3.1.0 does not know (the root zone has them): X does not link them.
UNKNOWN_TLDS = ["amazon", "kids", "music", "spa", "ישראל", "السعوديه", "السعودیة", "اليمن", "ايران", "سوريا", "پاكستان",
                "アマゾン", "亚马逊", "澳门", "臺灣", "zz", "example", "local", "test"]  # fmt: skip


def tld_texts() -> list[str]:
    """Protocol and protocol-less URLs on every TLD twitter-text knows, and on some it does not."""
    texts: list[str] = []
    for tld in sorted(set(twitter_text_tlds()) | set(UNKNOWN_TLDS)):
        texts += [
            f"see example.{tld} now",
            f"http://例え.{tld}/path",
            f"https://www.example.{tld.upper()}/a?b=c",
            f"x.{tld}",
            f"go to sub.example.{tld}/" + "p" * 30,
        ]
    return texts


LABELS = [
    "example", "bücher", "münchen", "straße", "café", "ñandú", "łódź", "İstanbul", "ıi", "ǅemal", "ﬁle",
    "пример", "москва", "испытание", "ελλάδα", "δοκιμή", "例え", "中文", "日本語", "テスト", "한국어", "ไทย",
    "हिन्दी", "বাংলা", "தமிழ்", "مثال", "موقع", "پاکستان", "דוגמה", "שלום", "ສະບາຍດີ", "ქართული", "հայերեն",
    "😀", "🇫🇷", "x🧑\u200d🚀y", "a\u200db", "a\u200cb", "e\u0301", "ａｂｃ", "①②", "xn--", "xn--bcher-kva", "xn--zz",
    "a-b", "a--b", "a_b", "-a", "a-", "A", "Z9", "0", "a" * 63, "a" * 64, "é" * 30, "例" * 19, "例" * 20,
]  # fmt: skip
DOMAIN_TLDS = ["com", "org", "jp", "de", "рф", "中国", "香港", "ελ", "みんな", "닷컴", "موقع", "ישראל", "xn--p1ai",
               "onion", "COM", "Рф", "zz", "bond", "app", "みんな"]  # fmt: skip
DIRECTIONAL = ["", "\u200e", "\u200f", "\u202a", "\u202b", "\u202e", "\u2066", "\u2067", "\u2068", "\u061c"]


def idn_texts() -> list[str]:
    """Internationalised and mixed-direction domains: labels of many scripts on ASCII and IDN TLDs."""
    rng = random.Random(SEED)
    texts: list[str] = []
    for label in LABELS:
        for tld in DOMAIN_TLDS:
            texts += [f"{label}.{tld}", f"http://{label}.{tld}/x", f"see https://www.{label}.{tld} ok"]
    for _ in range(1500):
        labels = [rng.choice(LABELS) for _ in range(rng.randint(1, 3))]
        domain = ".".join(labels) + "." + rng.choice(DOMAIN_TLDS)
        protocol = rng.choice(["", "", "http://", "https://", "HTTPS://"])
        before, after = rng.choice(DIRECTIONAL), rng.choice(DIRECTIONAL)
        context = rng.choice(["שלום ", "مرحبا ", "hi ", "", "日本 ", "(", "\u05d0"])
        path = rng.choice(["", "/", "/путь", "/مسار", "/a(b)", "?q=1", "/x.", "/ü?x=é"])
        texts.append(f"{context}{before}{protocol}{domain}{path}{after} {rng.choice(LABELS)}")
    return texts


POOLS: dict[str, list[str]] = {
    "word": ["hello", "world", "Herald", "post", "a", "I", "we're", "v2.0", "e.g.", "3.14", "x-y", "foo_bar", "ok!",
             "(note)", "end.", "@herald", "#launch", "$TSLA", "CR\r\nLF", "tab\there"],
    "url": ["https://example.com", "http://test.co", "https://www.herald.dev/a/b?c=1&d=2", "example.org/path",
            "www.python.org", "https://sub.domain.co.uk/x_y-z", "https://example.com/a(b)c", "t.co",
            "http://t.co/abc123", "https://t.co/" + "a" * 41, "example.com.", "(https://example.com/x)",
            "https://example.com/q?x=1.", "HTTPS://EXAMPLE.COM/UP", "http://example.com:8080/port",
            "https://example.de/über", "http://日本語.jp", "http://例え.テスト", "bücher.de", "https://bücher.de/x",
            "пример.рф", "http://пример.рф/путь", "http://مثال.موقع", "ftp://example.com", "mail@example.com",
            "https://example.com/" + "p" * 80, "-bad.com", "_x.com", "/path.com", "a.b.c.d.e.com", "xn--p1ai.com",
            "https://xn--bcher-kva.de", "http://x.onion", "w.aws", "https://a.bond/" + "z" * 30],
    "cjk": ["日本語", "故人西辞", "한국어", "中文", "ひらがな", "カタカナ", "。", "，", "\u3000", "𠀋"],
    "latin": ["café", "naïve", "Ǆ", "A\u0301", "e\u0301te\u0301", "straße", "Øre", "ł", "ﬁ", "ı", "K", "ſ"],
    "script": ["Привет", "مرحبا", "שלום", "ไทย", "हिन्दी", "Ελλάδα", "\u200f", "\u202e", "\u2067", "\u061c"],
    "punct": ["—", "“quoted”", "…", "‼", "→", "©", "®", "™", "&", "<", ">", "′", "\u2000", "\u200b", "•", "€",
              "\u20e3", "\ufe0f", "\ufe0e", "\u200d", "\ufffe", "\ufeff", "\ue50a"],
}  # fmt: skip
SEPARATORS = [" ", " ", " ", "\n", "  ", "", "", ".", "/", "-"]


def random_texts(emoji: list[str], size: int = RANDOM_TEXTS, seed: int = SEED) -> list[str]:
    """Seeded mixes of words, URLs, emoji (from the emoji test data), CJK, accents, scripts and punctuation."""
    rng = random.Random(seed)
    pools = {**POOLS, "emoji": emoji}
    kinds = list(pools)
    texts = []
    for _ in range(size):
        n = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 70, 120])
        tokens = [rng.choice(pools[rng.choice(kinds)]) for _ in range(n)]
        separators = [rng.choice(SEPARATORS) for _ in range(n)]
        texts.append("".join(t + s for t, s in zip(tokens, separators, strict=True)))
    return texts


SOUP_TEXTS = 2000
# Pieces that stress the URL grammar where JavaScript and Python differ: case folding (dotless and dotted I, long s,
# Kelvin and Angstrom signs), astral characters (two UTF-16 units), ideographic and full-width dots, directional
# marks, invalid characters, and protocol, subdomain and TLD fragments glued without spaces.
SOUP_ATOMS = [
    *"abcxyzABCXYZ0129.-_/:?#&=@$()[]!,;'%+~|* \n\t", "http://", "https://", "www.", ".com", ".co", ".jp", ".рф",
    ".中国", "xn--", "t.co/", ".みんな", ".ไทย", *"ıİſKÅéüßЖжΣσς例日本。．｡＠＃", "\u200e", "\u202e", "\u2066",
    "\u061c", "\ufeff", "\ufe0f", "\ufe0e", "\u200d", "\u3000", "\u00a0", "\U0001f600", "\U00020000",
    "\U0001f1eb\U0001f1f7",
]  # fmt: skip


def soup_texts(emoji: list[str], size: int = SOUP_TEXTS, seed: int = SEED) -> list[str]:
    """Seeded texts of 1 to 60 pieces glued together without separators (the URL grammar's corner cases)."""
    rng = random.Random(seed)
    atoms = SOUP_ATOMS + emoji[::40]
    return ["".join(rng.choice(atoms) for _ in range(rng.randint(1, 60))) for _ in range(size)]


def corpus() -> dict[str, list[str]]:
    """Every input family, by name."""
    return {
        "emoji": emoji_texts(),
        "conformance": conformance_texts(),
        "tlds": tld_texts(),
        "idn": idn_texts(),
        "random": random_texts(emoji_sequences()),
        "soup": soup_texts(emoji_sequences()),
    }
