"""The DbTools monitoring objects on a target instance: versioned T-SQL scripts and the steps
to deploy them over one connection. (Placeholder until the scripts land.)"""

from __future__ import annotations

from dataclasses import dataclass

from servers import sqlclient

SCRIPT_VERSION = 1


@dataclass(frozen=True)
class DeployOutcome:
    version: int
    previous_version: int | None


def deploy_objects(conn: sqlclient.SqlConnection) -> DeployOutcome:
    raise sqlclient.QueryFailed("Monitoring scripts are not available yet.")
