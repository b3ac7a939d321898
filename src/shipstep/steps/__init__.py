"""The pipeline steps: one module per step, plain inputs in, a result object out."""
