"""Reading user text files (scenario TOML, CSV tables) as UTF-8, naming the encoding when it is not.

A UTF-8 byte-order mark (Windows Notepad, Excel "CSV UTF-8") is accepted and dropped. UTF-16/UTF-32 files
(Excel "Unicode text", PowerShell redirection) and legacy 8-bit encodings are refused with a message that
names the encoding found, so the fix ("save as UTF-8") is obvious.
"""
from __future__ import annotations

import codecs
from pathlib import Path

from .errors import InputError, Problem

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian, with byte-order mark)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian, with byte-order mark)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian, with byte-order mark)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian, with byte-order mark)"),
)


def sniff_encoding(head: bytes) -> str | None:
    """Name a non-UTF-8 Unicode encoding from the first bytes of a file, or None.

    Recognises UTF-16/32 by their byte-order marks, and UTF-16 without one by its NUL bytes (ASCII text in
    UTF-16 has a NUL in every other byte).
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    sample = head[:512]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even):
            return "UTF-16 (little-endian, without byte-order mark)"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "UTF-16 (big-endian, without byte-order mark)"
    return None


def decode_utf8(data: bytes, where: str, what: str = "file") -> str:
    """``data`` as text: UTF-8, with or without a byte-order mark; anything else is an :class:`InputError`."""
    enc = sniff_encoding(data[:1024])
    if enc is not None:
        raise InputError([Problem(where, f"the {what} is encoded as {enc}, not UTF-8",
                                  "save the file as UTF-8 (in Excel: 'CSV UTF-8'; in an editor: encoding UTF-8)")],
                         f"cannot read {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bad = data[e.start:e.start + 1]
        hint = (" (looks like Latin-1/Windows-1252 text)" if bad and 0xA0 <= bad[0] <= 0xFF else "")
        raise InputError([Problem(where, f"not UTF-8 text (bad byte 0x{bad.hex()} at position {e.start}){hint}",
                                  f"save the {'scenario' if what == 'scenario' else 'file'} as UTF-8")],
                         f"cannot read {what}") from None


def read_utf8(path: str | Path, what: str = "file") -> str:
    """Read a text file as UTF-8 (see :func:`decode_utf8`); an unreadable file is an :class:`InputError`."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError([Problem(str(p), f"cannot read: {e.strerror}", "check the file's permissions")],
                         f"cannot read {what}") from None
    return decode_utf8(data, str(p), what)
