"""Evaluating zero-cost scores against a benchmark table, the code ``benchmarks/`` scripts share.

``cells``: the table's cells and the seeded draw a run scores. ``data``: data files found in ``$NASI_NAL_DATA``, and
images for a scoring batch. ``records``: resumable per-cell records (JSON lines). ``summary``: Spearman and Kendall
correlations with bootstrap intervals. ``correlation``: one run (draw, score, correlate), set by a
:class:`CorrelationRun`. ``settings``: the benchmark table's settings, in config files under ``configs/``.
"""
from nasi_nal.evaluate.cells import ACCURACY, DEFAULT_TABLES, SPACES, drawn_rows, load_table
from nasi_nal.evaluate.correlation import CorrelationRun, markdown, run, run_config, run_name
from nasi_nal.evaluate.data import data_file, load_images
from nasi_nal.evaluate.records import append_record, read_records, records_path
from nasi_nal.evaluate.settings import CostlyScores, TableSettings, load_settings, setting_names
from nasi_nal.evaluate.summary import bootstrap_ci, summarize

__all__ = ["ACCURACY", "DEFAULT_TABLES", "SPACES", "CorrelationRun", "CostlyScores", "TableSettings", "append_record",
           "bootstrap_ci", "data_file", "drawn_rows", "load_images", "load_settings", "load_table", "markdown",
           "read_records", "records_path", "run", "run_config", "run_name", "setting_names", "summarize"]
