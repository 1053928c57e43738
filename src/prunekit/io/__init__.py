"""Reading and writing examples: NumPy, Parquet/Arrow, CSV, torch and Hugging Face datasets."""

from prunekit.io.adapters import embed_texts, from_hf_dataset, from_torch_dataset
from prunekit.io.atomic import atomic_path
from prunekit.io.examples import ExampleSet, from_arrays, read_examples
from prunekit.io.writers import write_examples, write_table

__all__ = [
    "ExampleSet",
    "atomic_path",
    "embed_texts",
    "from_arrays",
    "from_hf_dataset",
    "from_torch_dataset",
    "read_examples",
    "write_examples",
    "write_table",
]
