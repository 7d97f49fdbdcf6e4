"""Tests of training/ (run: /usr/bin/python3 -m pytest -q training/tests training/study)."""
