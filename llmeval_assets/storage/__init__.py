"""Where results live: the Parquet lake that runs write, and the DuckDB file built from it."""
