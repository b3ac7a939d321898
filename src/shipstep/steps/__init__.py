"""One module per step: an inputs dataclass in, a result dataclass out."""
