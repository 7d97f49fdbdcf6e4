"""The compression study (compression_study.py): our methods against the paper's tables."""
