"""The review report: records from ``qvl extract`` as one self-contained HTML file."""
