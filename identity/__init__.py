"""identity: member identity resolution for US health payers."""

__version__ = "0.1.0"
