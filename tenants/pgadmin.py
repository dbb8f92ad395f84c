"""Connections to arbitrary PostgreSQL servers for tenant operations (move, backup, restore).

Provisioning talks to the one server the system database lives on; a move talks to two servers,
as an administrator of each and as the tenant's own role on each. `Endpoint` is one such login.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import psycopg
from django.db import connections
from psycopg import sql

from dbtools import crypto


class EndpointError(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str = ""
    dbname: str = "postgres"

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise EndpointError("Give the server as postgresql://user:password@host:port/dbname.")
        if not parts.hostname or not parts.username:
            raise EndpointError("The server URL needs a host and an administrator user name.")
        try:
            port = parts.port or 5432
        except ValueError as exc:
            raise EndpointError(f"Bad port in the server URL: {exc}") from exc
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
        )

    @classmethod
    def system(cls) -> Endpoint:
        """The system role on the server of the system database (where tenants are created)."""
        cfg = connections.settings["default"]
        return cls(
            host=cfg.get("HOST") or "127.0.0.1",
            port=int(cfg.get("PORT") or 5432),
            user=cfg["USER"],
            password=cfg.get("PASSWORD") or "",
            dbname=cfg["NAME"],
        )

    @classmethod
    def of_tenant(cls, tenant: object) -> Endpoint:
        """The tenant's own role on the server its database lives on."""
        return cls(
            host=tenant.db_host or "127.0.0.1",  # type: ignore[attr-defined]
            port=int(tenant.db_port),  # type: ignore[attr-defined]
            user=tenant.db_user,  # type: ignore[attr-defined]
            password=crypto.decrypt(tenant.db_password_encrypted),  # type: ignore[attr-defined]
            dbname=tenant.db_name,  # type: ignore[attr-defined]
        )

    def to_url(self) -> str:
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    def encrypted(self) -> str:
        return crypto.encrypt(self.to_url())

    @classmethod
    def decrypted(cls, token: str) -> Endpoint:
        return cls.from_url(crypto.decrypt(token))

    def on(self, dbname: str) -> Endpoint:
        return replace(self, dbname=dbname)

    def same_server(self, other: Endpoint) -> bool:
        local = {"localhost", "127.0.0.1", "::1"}
        hosts = {self.host, other.host}
        return self.port == other.port and (len(hosts) == 1 or hosts <= local)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def conninfo(self, dbname: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=str(self.port),
            user=self.user,
            password=self.password or None,
            dbname=dbname or self.dbname,
        )

    def connect(self, dbname: str | None = None, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(dbname), autocommit=autocommit, connect_timeout=10)

    def env(self, dbname: str | None = None) -> dict[str, str]:
        """libpq variables for pg_dump, pg_restore and psql: no password on a command line."""
        return {
            **os.environ,
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname or self.dbname,
            "PGCONNECT_TIMEOUT": "10",
            "PGAPPNAME": "dbtools-tenant-ops",
        }


def tool(name: str) -> str:
    """Path of a PostgreSQL client program (pg_dump, pg_restore, psql)."""
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (scripts/setup.sh installs it).")
    return found


def tool_major(name: str) -> int:
    out = subprocess.run([tool(name), "--version"], capture_output=True, text=True, check=True)
    # "pg_dump (PostgreSQL) 15.20 (Debian ...)"
    return int(out.stdout.split(")")[1].strip().split(".")[0])


def role_exists(cur: psycopg.Cursor, role: str) -> bool:
    return cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None


def database_exists(cur: psycopg.Cursor, name: str) -> bool:
    row = cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def is_superuser(cur: psycopg.Cursor) -> bool:
    return cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]


def create_tenant_database(admin: Endpoint, role: str, password: str, db_name: str) -> None:
    """The tenant's role and database on `admin`'s server, set up as provisioning does."""
    with admin.connect() as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {}"
            ).format(sql.Identifier(role), sql.Literal(password))
        )
        if not is_superuser(cur):
            # CREATE DATABASE ... OWNER needs membership of the owner for a non-superuser; as in
            # provisioning, a membership that does not inherit the role's rights.
            stmt = "GRANT {} TO CURRENT_USER"
            if conn.info.server_version >= 160000:
                stmt += " WITH INHERIT FALSE, SET TRUE"
            cur.execute(sql.SQL(stmt).format(sql.Identifier(role)))
        cur.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(db_name), sql.Identifier(role)
            )
        )
        cur.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db_name))
        )


def drop_tenant_database(admin: Endpoint, role: str, db_name: str, drop_role: bool = True) -> None:
    """Drop the tenant's database (and role) on `admin`'s server if they exist."""
    with admin.connect() as conn, conn.cursor() as cur:
        if database_exists(cur, db_name):
            if not is_superuser(cur):
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
            )
            cur.execute("RESET ROLE")
        if drop_role and role_exists(cur, role):
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def pgadmin_tools_check(server_major: int) -> str:
    """pg_dump, pg_restore and psql are installed and not older than the server they dump."""
    found = []
    for name in ("pg_dump", "pg_restore", "psql"):
        major = tool_major(name)
        if server_major and major < server_major:
            raise RuntimeError(
                f"{name} is version {major}, older than the PostgreSQL {server_major} it must read"
            )
        found.append(f"{name} {major}")
    return ", ".join(found)
