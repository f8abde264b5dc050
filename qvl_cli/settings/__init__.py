"""Every option of qvl, declared once, and one builder that layers defaults < configuration file
< environment < command line (see :mod:`qvl_cli.settings.records` for the declarations)."""

from qvl_cli.settings.declare import Declared, SettingsError, declared
from qvl_cli.settings.layers import (
    Layer,
    all_settings,
    build_settings,
    command_settings,
    config_layer,
    display_path,
    env_layer,
    file_layer,
    find_config_file,
    flag_layer,
    qvl_table,
)
from qvl_cli.settings.records import (
    DEFAULT_MODEL,
    RECORDS,
    DecodingSettings,
    ModelSettings,
    RenderSettings,
    RunSettings,
    Settings,
)

__all__ = [
    "DEFAULT_MODEL",
    "RECORDS",
    "Declared",
    "DecodingSettings",
    "Layer",
    "ModelSettings",
    "RenderSettings",
    "RunSettings",
    "Settings",
    "SettingsError",
    "all_settings",
    "build_settings",
    "command_settings",
    "config_layer",
    "declared",
    "display_path",
    "env_layer",
    "file_layer",
    "find_config_file",
    "flag_layer",
    "qvl_table",
]
