"""Reading a dataset: list and class files (``annotations``), the video decoders, clip sampling, transforms and
test views, and the video dataset that training and evaluation load. ``pst.datasets`` gets what is read here."""
