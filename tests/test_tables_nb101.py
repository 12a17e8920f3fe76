"""NAS-Bench-101 tables: the official tfrecord layout (written here by an independent encoder), caches, look-ups,
the team's sample and the embedded table."""
from __future__ import annotations

import base64
import importlib.util
import json
import math
import pathlib
import struct

import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError, NotInTableError, TableError
from nasi_nal.spaces import nb101 as space
from nasi_nal.tables import NB101Table, load_embedded, load_nb101
from nasi_nal.tables.nb101 import OP_NAMES

README_MATRIX = [
    [0, 1, 0, 0, 1, 1, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 1],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
]
README_OPS = [
    "input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu", "output",
]
README_HASH = "00005c142e6f48ac74fdcf73e3439874"
README_PARAMS = 8_555_530
SAMPLE = "nb101_cifar10_sample20001.npz"
REPO = pathlib.Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------------------
# An encoder for the official file format, written independently of the package's reader: bit-by-bit CRC-32C,
# TFRecord framing (tensorflow core/lib/io/record_writer.cc) and protobuf wire format by hand.
def crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", masked(crc32c_bitwise(length)))
        + payload
        + struct.pack("<I", masked(crc32c_bitwise(payload)))
    )


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_double(number: int, x: float) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<d", x)


def pb_varint(number: int, n: int) -> bytes:
    return varint(number << 3 | 0) + varint(n)


def pb_bytes(number: int, b: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(b)) + b


def evaluation(epoch, time, train, val, test, checkpoint="gs://bucket/model.ckpt-0") -> bytes:
    return (
        pb_double(1, epoch) + pb_double(2, time) + pb_double(3, train) + pb_double(4, val) + pb_double(5, test)
        + pb_bytes(6, checkpoint.encode())
    )


def model_metrics(evals: list[bytes], params: int, total_time: float) -> bytes:
    # trainable_parameters placed first and an unknown field 15 added: order and unknown fields must not matter.
    return pb_varint(2, params) + b"".join(pb_bytes(1, e) for e in evals) + pb_double(3, total_time) + pb_varint(15, 7)


def record(cell_hash, epochs, matrix, ops, params, runs_values) -> bytes:
    """One record; runs_values = (halfway (time, train, val, test), final (time, train, val, test))."""
    half, final = runs_values
    evals = [evaluation(0, 0.0, 0.1, 0.1, 0.1), evaluation(epochs / 2, *half), evaluation(epochs, *final)]
    raw_metrics = base64.b64encode(model_metrics(evals, params, 99.0)).decode()
    bits = "".join(str(int(v)) for v in np.asarray(matrix).ravel())
    return json.dumps([cell_hash, epochs, bits, ",".join(ops), raw_metrics]).encode()


CELLS = [
    (README_MATRIX, README_OPS, README_PARAMS),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], 1_234_567),
    ([[0, 1], [0, 0]], ["input", "output"], 227_274),
]


def official_records() -> tuple[list[bytes], dict]:
    """Records in the official layout: 3 runs at 108 epochs for every cell, 2 runs at 4 epochs for cell 0 only.

    Returns the payloads and the expected values {(cell, epochs): [(halfway, final), ...]}.
    """
    payloads, expected = [], {}
    for c, (matrix, ops, params) in enumerate(CELLS):
        h = space.spec_hash(matrix, ops)
        for epochs, runs in ((4, 2 if c == 0 else 0), (108, 3)):
            for r in range(runs):
                half = (10.0 * epochs + r, 0.5 + 0.01 * c, 0.4 + 0.01 * r, 0.3 + 0.01 * c + 0.001 * r)
                final = (20.0 * epochs + r, 0.9 + 0.01 * c, 0.8 + 0.01 * r, 0.7 + 0.01 * c + 0.001 * r)
                expected.setdefault((c, epochs), []).append((half, final))
                payloads.append(record(h, epochs, matrix, ops, params, (half, final)))
    return payloads, expected


def write_tfrecord(path: pathlib.Path, payloads: list[bytes]) -> pathlib.Path:
    path.write_bytes(b"".join(frame(p) for p in payloads))
    return path


@pytest.fixture
def tfrecord(tmp_path) -> pathlib.Path:
    return write_tfrecord(tmp_path / "nasbench_mini.tfrecord", official_records()[0])


# --------------------------------------------------------------------------------------------------------------
def test_test_encoder_crc_matches_rfc3720_vectors():
    # RFC 3720 B.4 and the common check value: the test's own CRC, which the reader must agree with below.
    assert crc32c_bitwise(b"123456789") == 0xE3069283
    assert crc32c_bitwise(bytes(32)) == 0x8A9136AA
    assert crc32c_bitwise(b"\xff" * 32) == 0x62A8AB43
    assert crc32c_bitwise(bytes(range(32))) == 0x46DD794E
    assert crc32c_bitwise(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_reads_official_layout(tfrecord, tmp_path):
    table = NB101Table.from_tfrecord(tfrecord, cache=False)
    _, expected = official_records()
    assert len(table) == 3 and table.epochs == (4, 108) and table.num_runs == 3
    assert table.hashes[0] == README_HASH  # the space's hash of the README cell is the published one
    for c, (matrix, ops, params) in enumerate(CELLS):
        r = table.query((matrix, ops), epochs=108)
        assert r.trainable_parameters == params and r.num_runs == 3
        runs = expected[(c, 108)]
        np.testing.assert_allclose(r.val_acc_runs, [f[2] for _, f in runs], rtol=1e-6)
        np.testing.assert_allclose(r.test_acc_runs, [f[3] for _, f in runs], rtol=1e-6)
        np.testing.assert_allclose(r.training_time_runs, [f[0] for _, f in runs], rtol=1e-6)
        assert r.val_acc == pytest.approx(np.mean([f[2] for _, f in runs]), rel=1e-6)
        assert r.train_acc == pytest.approx(np.mean([f[1] for _, f in runs]), rel=1e-6)
        assert r.halfway_val_acc == pytest.approx(np.mean([h[2] for h, _ in runs]), rel=1e-6)
        assert r.halfway_test_acc == pytest.approx(np.mean([h[3] for h, _ in runs]), rel=1e-6)
        assert r.halfway_training_time == pytest.approx(np.mean([h[0] for h, _ in runs]), rel=1e-6)
    # Cell 0 has 2 runs at 4 epochs: the third slot is NaN and the mean skips it; the others have no 4-epoch run.
    r4 = table.query(README_HASH, epochs=4)
    assert math.isnan(r4.val_acc_runs[2])
    assert r4.val_acc == pytest.approx(np.mean([f[2] for _, f in expected[(0, 4)]]), rel=1e-6)
    assert math.isnan(table.query(CELLS[2][:2], epochs=4).val_acc)
    with pytest.raises(ValueError, match="budgets"):
        table.query(README_HASH, epochs=36)


def test_reader_matches_google_protobuf():
    """Our wire decoder against the protobuf library's own parser of ModelMetrics (schema built at runtime)."""
    pytest.importorskip("google.protobuf")  # installed with tensorflow-datasets; the oracle only
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    from nasi_nal.tables._protobuf import decode_model_metrics

    fdp = descriptor_pb2.FileDescriptorProto(name="model_metrics_test.proto", package="nasbench", syntax="proto2")
    fd = descriptor_pb2.FieldDescriptorProto
    ev = fdp.message_type.add(name="EvaluationData")
    for number, name in enumerate(["current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                                   "test_accuracy"], start=1):
        ev.field.add(name=name, number=number, type=fd.TYPE_DOUBLE, label=fd.LABEL_OPTIONAL)
    ev.field.add(name="checkpoint_path", number=6, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
    mm = fdp.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=fd.TYPE_MESSAGE, label=fd.LABEL_REPEATED,
                 type_name=".nasbench.EvaluationData")
    mm.field.add(name="trainable_parameters", number=2, type=fd.TYPE_INT32, label=fd.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=fd.TYPE_DOUBLE, label=fd.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))
    msg = cls(trainable_parameters=31_552_906, total_time=4321.5)
    for k in range(3):
        msg.evaluation_data.add(current_epoch=54.0 * k, training_time=1.5 * k, train_accuracy=0.25 + k / 8,
                                validation_accuracy=0.2 + k / 9, test_accuracy=0.1 + k / 7,
                                checkpoint_path=f"model.ckpt-{k}")
    decoded = decode_model_metrics(msg.SerializeToString())
    assert decoded.trainable_parameters == 31_552_906 and decoded.total_time == 4321.5
    for ours, theirs in zip(decoded.evaluation_data, msg.evaluation_data, strict=True):
        assert ours == (theirs.current_epoch, theirs.training_time, theirs.train_accuracy,
                        theirs.validation_accuracy, theirs.test_accuracy)
    # Fields out of number order and repeated (the last value wins) take the decoder's general path; the second
    # message opens with fields 1-5 in order (the fast path) and repeats field 4 after them.
    raw = pb_bytes(1, pb_double(5, 0.5) + pb_double(3, 0.3) + pb_double(4, 0.1) + pb_double(4, 0.4) + pb_double(1, 9.0))
    raw += pb_bytes(1, evaluation(1, 2, 0.3, 0.4, 0.5) + pb_double(4, 0.7))
    theirs, ours = cls.FromString(raw), decode_model_metrics(raw)
    assert ours.trainable_parameters is None and not theirs.HasField("trainable_parameters")
    assert math.isnan(ours.evaluation_data[0].training_time) and not theirs.evaluation_data[0].HasField("training_time")
    for o, t in zip(ours.evaluation_data, theirs.evaluation_data, strict=True):
        assert (o.current_epoch, o.train_accuracy, o.validation_accuracy, o.test_accuracy) == (
            t.current_epoch, t.train_accuracy, t.validation_accuracy, t.test_accuracy)
    assert [e.validation_accuracy for e in ours.evaluation_data] == [0.4, 0.7]
    # And the library parses what the test encoder writes, so the fixture files are real protobufs.
    parsed = cls.FromString(model_metrics([evaluation(1, 2, 0.3, 0.4, 0.5)], 5, 6.0))
    assert parsed.trainable_parameters == 5 and parsed.evaluation_data[0].validation_accuracy == 0.4


def test_cache_is_written_then_used(tfrecord, monkeypatch):
    first = NB101Table.from_tfrecord(tfrecord)
    cache = tfrecord.with_name(tfrecord.name + ".nasi_nal.npz")
    assert cache.is_file()
    import nasi_nal.tables.nb101 as nb101_module

    def no_parse(path):
        raise AssertionError("the tfrecord was parsed again although a valid cache exists")

    monkeypatch.setattr(nb101_module, "_parse_tfrecord", no_parse)
    again = load_nb101(tfrecord)  # detects the tfrecord, loads its cache
    for name in ("val_acc", "test_acc", "halfway_train_acc", "training_time"):
        np.testing.assert_array_equal(first.metric(name, 108, run=1), again.metric(name, 108, run=1))
    assert list(first.hashes) == list(again.hashes) and again.epochs == (4, 108)
    assert load_nb101(cache).query(README_HASH).trainable_parameters == README_PARAMS


def test_stale_and_corrupt_cache_are_errors(tfrecord, tmp_path):
    cache = tmp_path / "cache.npz"
    NB101Table.from_tfrecord(tfrecord, cache=cache)
    payloads, _ = official_records()
    write_tfrecord(tfrecord, payloads[:-1])  # the source changed after the cache was built
    with pytest.raises(TableError, match="another file.*rebuild=True"):
        NB101Table.from_tfrecord(tfrecord, cache=cache)
    rebuilt = NB101Table.from_tfrecord(tfrecord, cache=cache, rebuild=True)
    assert math.isnan(rebuilt.query(CELLS[2][:2]).val_acc_runs[2])  # the dropped last record's run
    assert math.isnan(NB101Table.from_tfrecord(tfrecord, cache=cache).query(CELLS[2][:2]).val_acc_runs[2])
    cache.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TableError, match="cache.npz.*rebuild=True") as info:
        NB101Table.from_tfrecord(tfrecord, cache=cache)
    assert info.value.__cause__ is not None


def test_cache_false_writes_nothing(tfrecord):
    NB101Table.from_tfrecord(tfrecord, cache=False)
    assert sorted(p.name for p in tfrecord.parent.iterdir()) == [tfrecord.name]


def test_unwritable_cache_location_fails_before_parsing(tfrecord, tmp_path, monkeypatch):
    import nasi_nal.tables.nb101 as nb101_module

    def no_parse(path):
        raise AssertionError("parsed a tfrecord whose cache cannot be written")

    monkeypatch.setattr(nb101_module, "_parse_tfrecord", no_parse)
    with pytest.raises(TableError, match="does not exist or is not writable.*cache=False"):
        NB101Table.from_tfrecord(tfrecord, cache=tmp_path / "no-such-folder" / "c.npz")


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "data CRC mismatch"),  # a byte of record 0's JSON
        (lambda b: b[:8] + bytes([b[8] ^ 0xFF]) + b[9:], "length CRC mismatch"),  # the stored CRC itself
        (lambda b: bytes([b[0] ^ 4]) + b[1:], "length CRC mismatch in the record header at byte 0"),
        (lambda b: b[:5] + bytes([0x10]) + b[6:], "length CRC mismatch in the record header at byte 0"),  # huge
        (lambda b: b[:-3], "truncated record at byte"),
        (lambda b: b + b"\x01\x02\x03", "truncated record header"),
    ],
    ids=["data-crc", "length-crc", "length-field", "huge-length", "truncated-record", "truncated-header"],
)
def test_damaged_framing_is_a_table_error(tfrecord, corrupt, match):
    tfrecord.write_bytes(corrupt(tfrecord.read_bytes()))
    with pytest.raises(TableError, match=match) as info:
        NB101Table.from_tfrecord(tfrecord, cache=False)
    message = str(info.value)
    assert tfrecord.name in message and "https://github.com/google-research/nasbench" in message
    assert info.value.__cause__ is not None  # chained, not a bare traceback from the parser


@pytest.mark.parametrize("block_bytes", [7, 37, 600, 1 << 20])
def test_records_across_read_blocks(tfrecord, block_bytes):
    """Frames that straddle the reader's blocks come back whole (the default block is 64 MiB)."""
    from nasi_nal.tables._tfrecord import RecordFormatError, iter_record_chunks

    payloads, _ = official_records()
    assert [r for chunk in iter_record_chunks(tfrecord, block_bytes) for r in chunk] == payloads
    tfrecord.write_bytes(tfrecord.read_bytes()[:-1])
    with pytest.raises(RecordFormatError, match="truncated record at byte"):
        list(iter_record_chunks(tfrecord, block_bytes))


def _first_record_with(payload: bytes, tmp_path) -> pathlib.Path:
    return write_tfrecord(tmp_path / "bad.tfrecord", [payload] + official_records()[0])


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"{not json", "record 0 is malformed: not UTF-8 JSON"),
        (b'["abc", 108, "0", "input", ""]', "module hash"),
        (json.dumps([README_HASH, 108, "0110", "input,output", "!!!"]).encode(), "base64"),
        (json.dumps([README_HASH, 108, "0110", "input,output", base64.b64encode(b"\x0a\x05ab").decode()]).encode(),
         "protobuf"),
        (json.dumps([README_HASH, 108, "01100", "input,output", ""]).encode(), "V x V"),
        (json.dumps([README_HASH, 108, "0100", "input,output",
                     base64.b64encode(model_metrics([evaluation(0, 0, 0, 0, 0)], 1, 1.0)).decode()]).encode(),
         "holds 1 evaluations"),
    ],
    ids=["json", "hash", "base64", "protobuf", "matrix", "evaluations"],
)
def test_malformed_record_is_a_table_error(tmp_path, payload, match):
    path = _first_record_with(payload, tmp_path)
    with pytest.raises(TableError, match=match) as info:
        NB101Table.from_tfrecord(path, cache=False)
    assert "bad.tfrecord" in str(info.value) and info.value.__cause__ is not None


def test_unknown_op_and_inconsistent_repeat_are_errors(tmp_path):
    payloads, _ = official_records()
    bad_op = json.loads(payloads[0])
    bad_op[3] = bad_op[3].replace("maxpool3x3", "avgpool3x3")
    with pytest.raises(TableError, match="unknown op"):
        NB101Table.from_tfrecord(write_tfrecord(tmp_path / "a.tfrecord", [json.dumps(bad_op).encode()]), cache=False)
    other = json.loads(payloads[1])
    other[3] = other[3].replace("maxpool3x3", "conv1x1-bn-relu")
    with pytest.raises(TableError, match="record 1 is malformed: hash .* repeats"):
        NB101Table.from_tfrecord(write_tfrecord(tmp_path / "b.tfrecord", [payloads[0], json.dumps(other).encode()]),
                                 cache=False)


def test_missing_and_empty_files(tmp_path):
    for loader in (NB101Table.from_tfrecord, load_nb101, NB101Table.from_sample_npz, NB101Table.from_cache):
        with pytest.raises(TableError, match="nowhere.tfrecord.*no such file.*google-research/nasbench"):
            loader(tmp_path / "nowhere.tfrecord")
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(TableError, match="holds no record"):
        NB101Table.from_tfrecord(empty, cache=False)


def test_lookups_top_and_roundtrip(tfrecord, tmp_path):
    table = NB101Table.from_tfrecord(tfrecord, cache=False)
    cell = space.Cell(np.array(README_MATRIX), tuple(README_OPS))
    # An isomorphic renumbering (swap the inner vertices 3 and 4) is the same cell for the benchmark.
    perm = [0, 1, 2, 4, 3, 5, 6]
    iso = (np.array(README_MATRIX)[np.ix_(perm, perm)], [README_OPS[p] for p in perm])
    assert cell in table and README_HASH in table and iso in table
    assert table.query(cell).hash == table.query(iso).hash == README_HASH
    assert table.query(cell).cell.hash == README_HASH
    assert "f" * 32 not in table
    with pytest.raises(NotInTableError, match="f{32} is not in this table"):
        table.query("f" * 32)
    with pytest.raises(InvalidCellError, match="32 lowercase hex"):
        table.query("not-a-hash")
    with pytest.raises(InvalidCellError):
        table.query(([[0, 0], [0, 0]], ["input", "output"]))  # no path from input to output
    assert [c.hash for c in table.cells()] == list(table.hashes)
    # Cell 2 has the best validation accuracies only by run order; mean val = 0.8 + 0.01 * mean(r) for all cells,
    # so the ranking falls to the hash tie-break, and test accuracy (0.7 + 0.01 c) ranks cell 2 first.
    assert [r.hash for r in table.top(3, metric="test_acc")] == list(table.hashes[[2, 1, 0]])
    assert [r.hash for r in table.top(1.0)] == sorted(table.hashes)  # equal val_acc: ordered by hash
    assert len(table.top(0.5)) == 2  # ceil(0.5 * 3)
    for bad in (0, 1.5, True):
        with pytest.raises((ValueError, TypeError)):
            table.top(bad)
    with pytest.raises(ValueError, match="accuracy"):
        table.top(1, metric="training_time")
    sub = table.select([2, 0])
    sub.save(tmp_path / "a.npz")
    NB101Table.from_cache(tmp_path / "a.npz").save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = load_nb101(tmp_path / "a.npz")
    assert list(back.hashes) == list(table.hashes[[2, 0]])
    np.testing.assert_array_equal(
        back.metric("halfway_test_acc", 4, run=0), table.metric("halfway_test_acc", 4, run=0)[[2, 0]]
    )


def test_cache_with_wrong_arrays_is_a_table_error(tfrecord, tmp_path):
    table = NB101Table.from_tfrecord(tfrecord, cache=False)
    table.save(tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in (("version", np.array(99)), ("metric_val_acc", arrays["metric_val_acc"][:, :1]),
                       ("hash", np.array(["x" * 32] * 3)), ("format", np.array("something else"))):
        broken = dict(arrays, **{key: value})
        np.savez(tmp_path / "broken.npz", **broken)
        with pytest.raises(TableError, match="broken.npz"):
            NB101Table.from_cache(tmp_path / "broken.npz")
    bad_sample = {k: arrays[k] for k in ("hash", "adjacency", "ops", "num_vertices", "op_names")}
    np.savez(tmp_path / "bad_sample.npz", **bad_sample)
    with pytest.raises(TableError, match="bad_sample.npz.*sample layout.*missing"):
        load_nb101(tmp_path / "bad_sample.npz")


def _sample_layout(table: NB101Table) -> dict:
    """The arrays of the team's sample layout for ``table``'s cells (made-up accuracies)."""
    n = len(table)
    arrays = {"hash": table.hashes, "adjacency": np.stack([np.pad(c.matrix, (0, 7 - len(c.ops))) for c in table.cells()]),
              "ops": np.array([[OP_NAMES.index(o) for o in c.ops] + [-1] * (7 - len(c.ops)) for c in table.cells()]),
              "num_vertices": np.array([len(c.ops) for c in table.cells()]), "op_names": np.array(OP_NAMES),
              "trainable_parameters": table.trainable_parameters, "training_time_108ep": np.full(n, 1000.0)}
    arrays.update({f"val_acc_{e}ep": np.linspace(0.5, 0.9, n) for e in (4, 12, 36, 108)})
    return arrays


@pytest.mark.parametrize("key", ["val_acc_108ep", "training_time_108ep", "trainable_parameters", "hash"])
def test_sample_arrays_of_different_lengths_are_refused(tfrecord, tmp_path, key):
    arrays = _sample_layout(NB101Table.from_tfrecord(tfrecord, cache=False))
    np.savez(tmp_path / "sample.npz", **arrays)
    assert len(load_nb101(tmp_path / "sample.npz")) == len(arrays["hash"])
    np.savez(tmp_path / "cut.npz", **dict(arrays, **{key: arrays[key][:1]}))
    with pytest.raises(TableError, match=rf"cut.npz.*arrays disagree in length: .*{key} 1\b"):
        load_nb101(tmp_path / "cut.npz")


# ------------------------------------------------------------------------------------------ the team's sample
def test_sample_lookup_of_the_readme_cell(reference_file):
    table = load_nb101(reference_file(SAMPLE))
    assert len(table) == 20_001 and table.epochs == (4, 12, 36, 108) and table.num_runs == 1
    by_cell = table.query((README_MATRIX, README_OPS))
    by_hash = table.query(README_HASH)
    assert by_cell.hash == by_hash.hash == README_HASH
    assert by_cell.trainable_parameters == by_hash.trainable_parameters == README_PARAMS
    assert math.isnan(by_hash.test_acc) and math.isnan(by_hash.train_acc)  # the sample has none: never invented
    assert 0.0 < by_hash.val_acc < 1.0 and by_hash.training_time > 0
    assert math.isnan(table.query(README_HASH, epochs=36).training_time)  # time only at 108 epochs
    val = table.metric("val_acc", 108)
    assert round(float(val.max()), 4) == 0.9491 and round(float(val.mean()), 3) == 0.910  # README figures
    with pytest.raises(ValueError, match="no value"):
        table.top(5, metric="test_acc")


def test_sample_rows_decode_to_their_hash(reference_file):
    table = NB101Table.from_sample_npz(reference_file(SAMPLE))
    rows = np.random.default_rng(0).choice(len(table), size=200, replace=False)
    assert all(table.cell(int(i)).hash == table.hashes[i] for i in rows)


@pytest.mark.slow
def test_every_sample_row_decodes_to_its_hash(reference_file):
    table = NB101Table.from_sample_npz(reference_file(SAMPLE))
    assert [c.hash for c in table.cells()] == list(table.hashes)


# ------------------------------------------------------------------------------------------ the embedded table
def test_embedded_table():
    table = load_embedded()
    assert len(table) == 500 and table.num_runs == 1 and table.epochs == (4, 12, 36, 108)
    val = table.metric("val_acc", 108)
    assert np.all(np.diff(val) <= 0)  # best first
    assert round(float(val[0]), 4) == 0.9491  # the best cell of the sample (README)
    assert np.isnan(table.metric("test_acc", 108)).all()
    assert not np.isnan(table.metric("val_acc", 4)).any()
    assert (table.trainable_parameters > 0).all()
    best = table.top(1)[0]
    assert best.hash == table.hashes[0] and best.cell.hash == best.hash
    assert "sample" in table.source and (REPO / "nasi_nal/tables/data/nb101_sample_top500.npz").stat().st_size < 300_000


def test_make_embedded_table_reproduces_the_shipped_file(reference_file, tmp_path):
    spec = importlib.util.spec_from_file_location("make_embedded_table", REPO / "benchmarks/make_embedded_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = script.main(["--sample", str(reference_file(SAMPLE)), "--out", str(tmp_path / "e.npz")])
    assert out.read_bytes() == (REPO / "nasi_nal/tables/data/nb101_sample_top500.npz").read_bytes()
    sample = NB101Table.from_sample_npz(reference_file(SAMPLE))
    top = sample.metric("val_acc", 108)
    assert load_embedded().metric("val_acc", 108)[-1] >= np.sort(top)[-500]
