"""eqinfo's M1 byte-level Transformer: PyTorch references and model-file I/O (docs/m1.md,
docs/m1-integer.md). ``M1`` is the float model (training); ``IntegerM1`` is the integer
numerics eqinfo codes with (format version 2), bit-identical to the C++."""

from .integer import IntegerM1, cross_entropy_bits, logits_to_cdf, quantize_m1
from .model import BOS, M1, M1Cache, M1Config, PRESETS, relative_buckets_table, relative_position_bucket
from .safetensors_io import (FORMAT_VERSION, config_json, expected_tensors, fingerprint, fingerprint_of,
                             load_float_m1, load_integer_m1, load_m1, read_m1, read_safetensors, save_m1, write_m1,
                             write_safetensors)

__all__ = ["BOS", "M1", "M1Cache", "M1Config", "PRESETS", "relative_buckets_table", "relative_position_bucket",
           "IntegerM1", "cross_entropy_bits", "logits_to_cdf", "quantize_m1",
           "FORMAT_VERSION", "config_json", "expected_tensors", "fingerprint", "fingerprint_of", "load_float_m1",
           "load_integer_m1", "load_m1", "read_m1", "read_safetensors", "save_m1", "write_m1", "write_safetensors"]
