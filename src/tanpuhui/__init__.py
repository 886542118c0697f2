"""tanpuhui (碳普惠): an open carbon-inclusion metering platform for individuals."""

__version__ = "0.1.0"
