"""Data of the ru_mc_demo task: the JSONL file next to this module, as a `test` split."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "ru_mc_demo.jsonl"


def load_items(**kwargs):
    import datasets

    if not DATA.is_file():
        raise FileNotFoundError(f"ru_mc_demo: data file {DATA} does not exist")
    return datasets.load_dataset("json", data_files={"test": str(DATA)})
