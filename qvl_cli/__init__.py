"""qvl: turn documents into validated JSON with Qwen2-VL."""

__version__ = "0.1.0"
