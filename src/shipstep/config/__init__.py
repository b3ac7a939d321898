"""`shipstep.yaml`: the configuration of `shipstep run`, its schema and loader."""

from shipstep.config.loader import load_config
from shipstep.config.model import (
    DEFAULT_FILE,
    SETTINGS,
    ConfigRepoSettings,
    ImageSettings,
    RegistrySettings,
    RepositorySettings,
    RunConfig,
    Setting,
    SigningSettings,
    TestSettings,
)

__all__ = [
    "DEFAULT_FILE",
    "SETTINGS",
    "ConfigRepoSettings",
    "ImageSettings",
    "RegistrySettings",
    "RepositorySettings",
    "RunConfig",
    "Setting",
    "SigningSettings",
    "TestSettings",
    "load_config",
]
