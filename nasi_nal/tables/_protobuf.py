"""A minimal protocol-buffers wire-format decoder for NAS-Bench-101's ``ModelMetrics`` (no generated code).

The wire format (https://protobuf.dev/programming-guides/encoding/) is a sequence of fields, each a varint key
``(field_number << 3) | wire_type`` followed by a value: wire type 0 a varint, 1 eight little-endian bytes,
2 a varint length and that many bytes, 5 four little-endian bytes. Fields may repeat and come in any order;
for a non-repeated field the last value wins. Unknown fields are skipped, as protobuf parsers do.

The schema is google-research/nasbench ``nasbench/lib/model_metrics.proto`` (proto2)::

    message ModelMetrics {
      repeated EvaluationData evaluation_data = 1;
      optional int32 trainable_parameters = 2;
      optional double total_time = 3;
    }
    message EvaluationData {
      optional double current_epoch = 1;   optional double training_time = 2;
      optional double train_accuracy = 3;  optional double validation_accuracy = 4;
      optional double test_accuracy = 5;   optional string checkpoint_path = 6;
    }
"""
from __future__ import annotations

import struct
from typing import NamedTuple

_DOUBLE = struct.Struct("<d")
_NAN = float("nan")
# EvaluationData fields 1-5 in order, each a one-byte key (number << 3 | 1) and a double.
_FIVE_DOUBLES = struct.Struct("<xdxdxdxdxd")
_FIVE_KEYS = bytes([0x09, 0x11, 0x19, 0x21, 0x29])


class ProtobufDecodeError(ValueError):
    """The bytes are not a well-formed protocol-buffers message of the expected schema."""


class EvaluationData(NamedTuple):
    """One evaluation during training; a field absent from the message is NaN (proto2 default 0 is not a result)."""

    current_epoch: float
    training_time: float
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float


class ModelMetrics(NamedTuple):
    """The decoded ``ModelMetrics``: evaluations in file order (start, halfway, end of training), parameters."""

    evaluation_data: tuple[EvaluationData, ...]
    trainable_parameters: int | None
    total_time: float


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufDecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufDecodeError("varint longer than 10 bytes")


def parse_fields(buf: bytes) -> list[tuple[int, int, int | float | bytes]]:
    """The fields of one message as ``(field_number, wire_type, value)``: varints as int, fixed64 as double,
    length-delimited as bytes, fixed32 as its raw uint32 (``ModelMetrics`` has none).

    One-byte varints (every key and length in ``ModelMetrics``) take a fast path: this runs once per field of
    every record, millions of times for ``nasbench_full.tfrecord``.
    """
    fields: list[tuple[int, int, int | float | bytes]] = []
    append = fields.append
    unpack_double = _DOUBLE.unpack_from
    pos = 0
    n = len(buf)
    while pos < n:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufDecodeError("field number 0 is invalid")
        if wire == 1:
            if pos + 8 > n:
                raise ProtobufDecodeError(f"truncated 64-bit value of field {number}")
            append((number, 1, unpack_double(buf, pos)[0]))
            pos += 8
        elif wire == 2:
            size = buf[pos] if pos < n else 0x80
            if size < 0x80:
                pos += 1
            else:
                size, pos = _varint(buf, pos)
            if pos + size > n:
                raise ProtobufDecodeError(f"field {number} announces {size} bytes, {n - pos} remain")
            append((number, 2, buf[pos : pos + size]))
            pos += size
        elif wire == 0:
            value, pos = _varint(buf, pos)
            append((number, 0, value))
        elif wire == 5:
            if pos + 4 > n:
                raise ProtobufDecodeError(f"truncated 32-bit value of field {number}")
            append((number, 5, int.from_bytes(buf[pos : pos + 4], "little")))
            pos += 4
        else:
            raise ProtobufDecodeError(f"unsupported wire type {wire} (field {number})")
    return fields


def _wrong_wire(message: str, number: int, wire: int, want: int) -> ProtobufDecodeError:
    return ProtobufDecodeError(f"{message} field {number} has wire type {wire}, the schema needs {want}")


def decode_evaluation_data(buf: bytes) -> EvaluationData:
    """Decodes an ``EvaluationData`` message; fields 1-5 are doubles, ``checkpoint_path`` (6) is skipped.

    Serializers write fields in number order, so a message usually opens with the 5 doubles back to back
    (keys 0x09, 0x11, 0x19, 0x21, 0x29): those are read with one ``struct`` call and the rest field by field,
    which gives the same result as the general loop (a later repeat of a field still wins) at a fraction of
    the cost.
    """
    values = [_NAN] * 5
    rest = buf
    if len(buf) >= _FIVE_DOUBLES.size and buf[0:_FIVE_DOUBLES.size:9] == _FIVE_KEYS:
        values = list(_FIVE_DOUBLES.unpack_from(buf))
        rest = buf[_FIVE_DOUBLES.size :]
    for number, wire, value in parse_fields(rest):
        if 1 <= number <= 5:
            if wire != 1:
                raise _wrong_wire("EvaluationData", number, wire, 1)
            values[number - 1] = value  # type: ignore[assignment]
        elif number == 6 and wire != 2:
            raise _wrong_wire("EvaluationData", number, wire, 2)
    return EvaluationData(*values)


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    """Decodes a serialized ``nasbench.ModelMetrics`` message."""
    evaluations: list[EvaluationData] = []
    params: int | None = None
    total_time = _NAN
    for number, wire, value in parse_fields(buf):
        if number == 1:
            if wire != 2:
                raise _wrong_wire("ModelMetrics", number, wire, 2)
            evaluations.append(decode_evaluation_data(value))  # type: ignore[arg-type]
        elif number == 2:
            if wire != 0:
                raise _wrong_wire("ModelMetrics", number, wire, 0)
            v = int(value) & 0xFFFFFFFF  # int32 is sign-extended to 64 bits on the wire
            params = v - (1 << 32) if v >= 1 << 31 else v
        elif number == 3:
            if wire != 1:
                raise _wrong_wire("ModelMetrics", number, wire, 1)
            total_time = float(value)
    return ModelMetrics(tuple(evaluations), params, total_time)
