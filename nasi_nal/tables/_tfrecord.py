"""TFRecord framing and CRC-32C, read with NumPy alone (no TensorFlow).

A TFRecord file is a sequence of records, each framed as (TensorFlow ``core/lib/io/record_writer.cc``)::

    uint64 length            little-endian
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

where ``masked_crc(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32)`` and CRC-32C is the Castagnoli CRC
(reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF; RFC 3720, appendix B.4).

The CRCs of many records are computed together: records are sorted by length and the table-driven CRC update
runs one byte position at a time over every record still that long, so the Python loop is over byte positions
(a few hundred) rather than over bytes (gigabytes for ``nasbench_full.tfrecord``). That suits files of many short
records like NAS-Bench-101's (about 500 bytes each); one long record would cost a NumPy step per byte. The file
is read in blocks, so memory stays bounded whatever its size.
"""
from __future__ import annotations

import os
import struct
from typing import Iterator

import numpy as np

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_HEADER = 12  # uint64 length + uint32 crc of the length
_FOOTER = 4  # uint32 crc of the data


class RecordFormatError(ValueError):
    """The bytes are not valid TFRecord framing; the message gives the byte offset and what was found."""


def _make_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _make_table()


def crc32c_many(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of ``buffer[starts[i] : starts[i] + lengths[i]]`` for every i, as a (n,) uint32 array.

    ``buffer`` is a 1-D uint8 array; the loop runs over byte positions, vectorized across
    the records, which are processed longest first so each step touches only the records still that long.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    s, n = starts[order], lengths[order]
    crc = np.full(len(s), 0xFFFFFFFF, dtype=np.uint32)
    # active[j] = number of records longer than j; since n is sorted descending they are the first active[j].
    ascending = n[::-1]
    max_len = int(n[0]) if len(n) else 0
    active = len(n) - np.searchsorted(ascending, np.arange(max_len), side="right")
    for j in range(max_len):
        m = int(active[j])
        byte = buffer[s[:m] + j].astype(np.uint32)
        crc[:m] = _TABLE[(crc[:m] ^ byte) & 0xFF] ^ (crc[:m] >> 8)
    out = np.empty_like(crc)
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def mask_crc(crc: np.ndarray | int) -> np.ndarray:
    """The TFRecord masking of CRC-32C values (rotate right by 15, add 0xa282ead8), uint32 arithmetic."""
    c = np.asarray(crc, dtype=np.uint32)
    return (((c >> np.uint32(15)) | (c << np.uint32(17))) + np.uint32(_MASK_DELTA)).astype(np.uint32)


def _scan(
    data: bytes, buf: np.ndarray, base: int, at_end: bool
) -> tuple[list[int], list[int], int, RecordFormatError | None]:
    """Header offsets and data lengths of the complete records in ``data`` (which starts at file byte ``base``).

    Returns them with the number of bytes they span. A frame cut off by the end of ``data`` is left for the next
    block, unless ``at_end``: then it is a pending error, raised after the CRCs of the headers before it are
    checked, and its own header's CRC is checked first, so a damaged length field shows up as the CRC mismatch
    it is rather than as a truncation.
    """
    size = len(data)
    starts: list[int] = []
    lengths: list[int] = []
    unpack = struct.Struct("<Q").unpack_from
    offset = 0
    while offset < size:
        if offset + _HEADER > size:
            if not at_end:
                break
            return starts, lengths, offset, RecordFormatError(
                f"truncated record header at byte {base + offset}: {size - offset} bytes left, a header needs "
                f"{_HEADER}"
            )
        (length,) = unpack(data, offset)
        end = offset + _HEADER + length + _FOOTER
        if end > size:
            stored = int.from_bytes(data[offset + 8 : offset + 12], "little")
            if int(mask_crc(crc32c_many(buf, np.array([offset]), np.array([8])))[0]) != stored:
                return starts, lengths, offset, RecordFormatError(
                    f"length CRC mismatch in the record header at byte {base + offset}"
                )
            if not at_end:
                break
            return starts, lengths, offset, RecordFormatError(
                f"truncated record at byte {base + offset}: its header announces {length} data bytes "
                f"but only {max(size - offset - _HEADER - _FOOTER, 0)} remain"
            )
        starts.append(offset)
        lengths.append(length)
        offset = end
    return starts, lengths, offset, None


def iter_record_chunks(path: str | os.PathLike, block_bytes: int = 1 << 26) -> Iterator[list[bytes]]:
    """Yields the records of a TFRecord file block by block (``block_bytes`` read at a time), after checking
    both CRCs of each.

    Raises ``OSError`` for an unreadable file and ``RecordFormatError`` (naming the byte offset) for truncated
    framing or a CRC mismatch. An empty file yields nothing.
    """
    with open(path, "rb") as f:
        pending = b""
        base = 0  # file offset of pending[0]
        while True:
            block = f.read(block_bytes)
            at_end = not block
            data = pending + block
            if not data:
                return
            buf = np.frombuffer(data, dtype=np.uint8)
            heads, lengths, consumed, error = _scan(data, buf, base, at_end)
            records = _check_chunk(buf, heads, lengths, base) if heads else []
            if error is not None:
                raise error
            if records:
                yield records
            if at_end:
                return
            pending = data[consumed:]
            base += consumed


def _check_chunk(buf: np.ndarray, heads: list[int], lengths: list[int], base: int) -> list[bytes]:
    h = np.asarray(heads, dtype=np.int64)
    n = np.asarray(lengths, dtype=np.int64)
    stored_len_crc = buf[(h[:, None] + 8 + np.arange(4)).ravel()].reshape(-1, 4).copy().view("<u4").ravel()
    bad = np.flatnonzero(mask_crc(crc32c_many(buf, h, np.full(len(h), 8))) != stored_len_crc)
    if bad.size:
        raise RecordFormatError(f"length CRC mismatch in the record header at byte {base + int(h[bad[0]])}")
    data = h + _HEADER
    foot = data + n
    stored_data_crc = buf[(foot[:, None] + np.arange(4)).ravel()].reshape(-1, 4).copy().view("<u4").ravel()
    bad = np.flatnonzero(mask_crc(crc32c_many(buf, data, n)) != stored_data_crc)
    if bad.size:
        raise RecordFormatError(f"data CRC mismatch in the record at byte {base + int(h[bad[0]])}")
    return [buf[a : a + k].tobytes() for a, k in zip(data.tolist(), lengths)]
