"""A session's searchable text as the catalog keeps it: once, zlib-compressed, in the
``bodies`` table (the FTS5 index itself is contentless and keeps only the words).

Reading it back is the cost of a search that must check its candidates for the exact
text, so ``holds`` stops decompressing at the first place the text is found.
"""

from __future__ import annotations

import zlib

# Compressed bytes read before the first look; each further step is twice the last.
_FIRST_STEP = 1024
_STEP_MAX = 64 * 1024


def pack(body: str) -> bytes:
    """The text as ``bodies`` keeps it (zlib at its fastest level: a build compresses
    every session's text)."""
    return zlib.compress(body.encode("utf-8", "surrogatepass"), 1)


def unpack(z: bytes, limit: int = 0) -> str:
    """The text ``pack`` made (only about its first ``limit`` bytes, when set)."""
    if not limit:
        return zlib.decompress(z).decode("utf-8", "surrogatepass")
    return zlib.decompressobj().decompress(z, limit).decode("utf-8", "ignore")


def holds(z: bytes, needle: str) -> bool:
    """Whether the packed text holds ``needle`` (lower case) in any case."""
    import codecs

    inflate = zlib.decompressobj()
    decode = codecs.getincrementaldecoder("utf-8")("surrogatepass").decode
    keep = len(needle) - 1
    tail = ""
    at, step = 0, _FIRST_STEP
    while at < len(z):
        text = tail + decode(inflate.decompress(z[at:at + step])).lower()
        if needle in text:
            return True
        tail = text[max(0, len(text) - keep):] if keep else ""
        at, step = at + step, min(step * 2, _STEP_MAX)
    return needle in tail + decode(inflate.flush(), True).lower()
