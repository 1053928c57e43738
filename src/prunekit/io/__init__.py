"""Reading and writing examples: NumPy, Parquet/Arrow, CSV, torch and Hugging Face datasets."""

from prunekit.io.atomic import atomic_path
from prunekit.io.examples import ExampleSet, from_arrays, read_examples

__all__ = ["ExampleSet", "atomic_path", "from_arrays", "read_examples"]
