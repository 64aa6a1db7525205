"""Getting a dataset: the catalog of sources, fetching (download or mirror, checksums), extracting, converting the
official annotations to our lists, re-encoding or frame extraction (``preprocess``, `pst data prepare`), validating
every video's decode, and rendering the embedded synthetic set. What they write is read by ``pst.data``."""
