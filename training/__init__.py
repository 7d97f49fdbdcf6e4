"""eqinfo's training and studies (training/README.md): M1 and M2 in PyTorch, the data
preparation, and the studies that reproduce the paper with the library.

A package so that its scripts import each other without path tricks: run them as modules
from the repository root, e.g. ``/usr/bin/python3 -m training.train_m1 --help``.
"""
