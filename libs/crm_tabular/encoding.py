"""Which text encoding a file is in, judged from its first bytes (a bounded prefix).

In order: a byte-order mark (UTF-8, UTF-16 LE/BE); UTF-16 without a mark (every other
byte NUL); other NUL bytes mean binary; valid UTF-8 (ASCII included) is UTF-8; otherwise
text that reads like a Western language is cp1252 (the Windows superset of Latin-1 that
Excel writes; identical to Latin-1 on its letters) or Latin-1 when it holds a byte cp1252
leaves undefined; anything else is charset-normalizer's guess (Cyrillic, Greek...).
charset-normalizer is not asked about Western text: on short samples it picks cp1250,
cp1257 or even cp1006 for plain French or German.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from .errors import NotTabularError, OptionError

# How much of a file decides its encoding and delimiter.
PREFIX_BYTES = 64 * 1024

# Bytes that cp1252 leaves undefined (Latin-1 maps them to C1 controls).
CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
LATIN1_FALLBACK = "crm-tabular-latin1"
# Control bytes that ordinary text holds (tab, newlines, form feed, DOS end-of-file).
TEXT_CONTROLS = frozenset(b"\t\n\r\x0c\x1a")


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode what cp1252 cannot as Latin-1 (its five undefined bytes), so a cp1252 file
    never fails part-way."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(LATIN1_FALLBACK, _latin1_fallback)


@dataclass(frozen=True, slots=True)
class Encoding:
    name: str  # what the preview reports: utf-8, utf-16-le, cp1252, latin-1, ...
    codec: str  # what Python decodes with (consumes the byte-order mark if any)
    bom: bool = False
    errors: str = "replace"  # undecodable bytes become U+FFFD, reported per row
    detected: bool = True  # False when the caller named it

    @property
    def lossless(self) -> bool:
        """True when no byte can fail to decode (so U+FFFD in a row is the file's own)."""
        return self.errors == LATIN1_FALLBACK or self.codec in ("latin-1", "iso8859-1")


BOMS = (
    (codecs.BOM_UTF8, Encoding("utf-8", "utf-8-sig", bom=True)),
    (codecs.BOM_UTF32_LE, None),  # before UTF-16 LE, whose mark it starts with
    (codecs.BOM_UTF32_BE, None),
    (codecs.BOM_UTF16_LE, Encoding("utf-16-le", "utf-16", bom=True)),
    (codecs.BOM_UTF16_BE, Encoding("utf-16-be", "utf-16", bom=True)),
)


def named_encoding(name: str) -> Encoding:
    """An encoding the caller chose (`latin-1`, `cp1252`, `utf-16`...)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise OptionError(f"unknown encoding {name!r}") from None
    if info.name in ("cp1252", "windows-1252"):
        return Encoding("cp1252", "cp1252", errors=LATIN1_FALLBACK, detected=False)
    if info.name == "utf-8":
        # A mark, if present, is not data.
        return Encoding("utf-8", "utf-8-sig", detected=False)
    return Encoding(info.name, info.name, detected=False)


def detect_encoding(prefix: bytes, *, complete: bool) -> Encoding:
    """The encoding of a file whose first bytes are `prefix` (`complete` when that is the
    whole file). Raises NotTabularError for binary data."""
    for mark, encoding in BOMS:
        if prefix.startswith(mark):
            if encoding is None:
                raise NotTabularError("UTF-32 text is not supported: save it as UTF-8")
            return encoding
    utf16 = _utf16_without_bom(prefix)
    if utf16 is not None:
        return utf16
    if b"\x00" in prefix or _control_share(prefix) > 0.01:
        raise NotTabularError("binary data, not a text table (CSV) or an XLSX workbook")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=complete)
    except UnicodeDecodeError:
        return _legacy(prefix)
    return Encoding("utf-8", "utf-8-sig")


def _utf16_without_bom(prefix: bytes) -> Encoding | None:
    """Text in UTF-16 without a mark: mostly ASCII, so one byte of each pair is NUL."""
    pairs = prefix[: 4096 - 4096 % 2]
    if len(pairs) < 4:
        return None
    half = len(pairs) // 2
    even_nul = pairs[0::2].count(0) / half
    odd_nul = pairs[1::2].count(0) / half
    if odd_nul > 0.4 and even_nul < 0.05:
        return Encoding("utf-16-le", "utf-16-le")
    if even_nul > 0.4 and odd_nul < 0.05:
        return Encoding("utf-16-be", "utf-16-be")
    return None


def _control_share(prefix: bytes) -> float:
    if not prefix:
        return 0.0
    controls = sum(1 for byte in prefix if byte < 0x20 and byte not in TEXT_CONTROLS)
    return controls / len(prefix)


def _legacy(prefix: bytes) -> Encoding:
    if not _looks_western(prefix.decode("cp1252", errors=LATIN1_FALLBACK)):
        # Imported here: it is slow to import and only non-UTF-8 files need it.
        from charset_normalizer import from_bytes

        best = from_bytes(prefix).best()
        if best is not None:
            return Encoding(best.encoding, best.encoding)
    if CP1252_UNDEFINED.intersection(prefix):
        return Encoding("latin-1", "latin-1")
    return Encoding("cp1252", "cp1252", errors=LATIN1_FALLBACK)


def _looks_western(text: str) -> bool:
    """Whether `text` (decoded as cp1252) reads like a Western language: its words with
    accented letters are mostly plain letters (`Grüße`, `Société`). Cyrillic or Greek
    bytes read as cp1252 make words of accented letters only (`Ìîñêâà` for `Москва`)."""
    accented = [word for word in _WORDS.findall(text) if not word.isascii()]
    if not accented:
        return True
    letters = sum(len(word) for word in accented)
    foreign = sum(1 for word in accented for char in word if ord(char) > 127)
    return foreign / letters < 0.6


_WORDS = re.compile(r"[^\W\d_]+")
