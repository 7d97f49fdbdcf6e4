"""eqinfo's M1 byte-level Transformer: PyTorch reference and model-file I/O (docs/m1.md)."""

from .model import BOS, M1, M1Cache, M1Config, PRESETS, relative_buckets_table, relative_position_bucket
from .safetensors_io import (config_json, fingerprint, fingerprint_of, load_m1, read_safetensors, save_m1,
                             write_safetensors)

__all__ = ["BOS", "M1", "M1Cache", "M1Config", "PRESETS", "relative_buckets_table", "relative_position_bucket",
           "config_json", "fingerprint", "fingerprint_of", "load_m1", "read_safetensors", "save_m1",
           "write_safetensors"]
