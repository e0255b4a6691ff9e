"""Analysis: text → findings. The Analyzer protocol and its result (base.py), the labels,
segmentation, and the in-process classifier with its runtimes. Importing this package
changes nothing in the process: the model runtime's settings are applied where it loads
(openmp.py, transformer.py)."""
