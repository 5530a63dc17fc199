"""Seeded, deterministic synthetic payer member masters with ground truth.

`write_dataset` writes members.ndjson (FHIR R4 Patient + Coverage), members.csv, duplicates.csv and
queries.ndjson; `iter_members` streams the same master row by row. Same seed, same arguments ->
byte-identical output.
"""

from identity.synthetic.dataset import DatasetPaths, iter_members, write_dataset
from identity.synthetic.model import Address, CoverageInfo, Person, SyntheticMember

__all__ = [
    "Address",
    "CoverageInfo",
    "DatasetPaths",
    "Person",
    "SyntheticMember",
    "iter_members",
    "write_dataset",
]
