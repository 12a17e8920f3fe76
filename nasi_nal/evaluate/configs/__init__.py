"""The benchmark table's config files (``table_<name>.py``), loaded by ``nasi_nal.evaluate.load_settings``."""
