"""The domain ring: pydantic models and pure algorithms, with no I/O and no outer-ring imports."""
