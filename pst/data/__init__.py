"""Data: the embedded synthetic set, the four real datasets (fetch, extract, convert, re-encode, validate),
clip sampling, transforms and test views, and the video dataset."""
