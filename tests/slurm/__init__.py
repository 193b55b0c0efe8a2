"""A throwaway single-node Slurm cluster for tests/test_slurm.py (see cluster.py)."""
