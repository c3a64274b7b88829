"""The demo: a three-node QA pipeline over a generated dataset, run by ``python -m plait.demo``."""
