"""sqlsim: a simulated SQL Server fleet speaking real TDS 7.4 (for DbTools' tests, demo, bench)."""

from . import (
    dbtools_objects,  # noqa: F401 - DbTools' monitoring objects (after built-ins)
    maintenance,  # noqa: F401 - backups, CHECKDB, index work and their history
)
from .engine import Context, ResultSet, SqlError, col, registry
from .fleet import Fleet, FleetThread, load_fleet_file, make_configs
from .instance import DEFAULT_LOGIN, DEFAULT_PASSWORD, InstanceConfig, Login

__all__ = [
    "DEFAULT_LOGIN",
    "DEFAULT_PASSWORD",
    "Context",
    "Fleet",
    "FleetThread",
    "InstanceConfig",
    "Login",
    "ResultSet",
    "SqlError",
    "col",
    "load_fleet_file",
    "make_configs",
    "registry",
]
