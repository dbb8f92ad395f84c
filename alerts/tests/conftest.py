"""Servers the alert tests evaluate rules on (created through the servers' actions)."""

import pytest

from servers import actions as server_actions


@pytest.fixture
def servers():
    made = []
    for i in range(3):
        made.append(
            server_actions.create_server(
                {
                    "name": f"SQL{i}",
                    "host": "127.0.0.1",
                    "port": 1500 + i,
                    "auth_type": "sql",
                    "username": "u",
                    "password": "p",
                },
                acting_user=None,
            )
        )
    return made
