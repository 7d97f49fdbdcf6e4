"""pytest configuration shared by training/tests and training/study."""

import os

# The eqinfo CLI's default model is the bundled M1; the tests here call the CLI with the model
# they mean, or with none for the uniform model, as before the bundled M1 existed.
os.environ.setdefault("EQINFO_MODEL", "uniform")
