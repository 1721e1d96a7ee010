"""Output formats for validation results and plans. Adapters: they write, the domain decides."""
