"""Step functions: plain inputs in, a result object out (see DESIGN.md)."""
