"""Create the system role and databases if they are missing (run by scripts/setup.sh).

The system role (from DATABASE_URL) gets LOGIN CREATEDB CREATEROLE NOINHERIT: it creates tenant
roles and databases, is made a member of each tenant role so it can drop them, but inherits none
of their rights, so it cannot connect to any tenant database. Creating it needs a PostgreSQL
superuser: DBTOOLS_PG_ADMIN_URL if set, else the local `postgres` OS user (peer auth), else
`postgres` over TCP.
"""

import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import environ
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
environ.Env.read_env(ROOT / ".env", overwrite=False)
URL = os.environ.get("DATABASE_URL", "postgres://dbtools:dbtools@127.0.0.1:5432/dbtools_system")
TEMPLATE = "dbtools_template"


def parts() -> dict[str, str]:
    p = urllib.parse.urlparse(URL)
    return {
        "user": urllib.parse.unquote(p.username or "dbtools"),
        "password": urllib.parse.unquote(p.password or ""),
        "host": p.hostname or "127.0.0.1",
        "port": str(p.port or 5432),
        "dbname": p.path.lstrip("/") or "dbtools_system",
    }


def can_connect(dbname: str) -> bool:
    c = parts()
    try:
        with psycopg.connect(
            dbname=dbname,
            user=c["user"],
            password=c["password"] or None,
            host=c["host"],
            port=c["port"],
            connect_timeout=5,
        ):
            return True
    except psycopg.Error:
        return False


def admin_psql(script: str) -> None:
    c = parts()
    admin_url = os.environ.get("DBTOOLS_PG_ADMIN_URL")
    args = ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-X"]
    if admin_url:
        cmd = [*args, admin_url]
    elif c["host"] in ("127.0.0.1", "localhost", "::1") and shutil.which("runuser") and _peer_ok():
        cmd = ["runuser", "-u", "postgres", "--", *args, "-p", c["port"]]
    else:
        cmd = [*args, "-h", c["host"], "-p", c["port"], "-U", "postgres"]
    subprocess.run(cmd, input=script, text=True, check=True)


def _peer_ok() -> bool:
    try:
        r = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-Atqc",
                "select 1",
                "-p",
                parts()["port"],
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return r.stdout.strip() == "1"
    except (OSError, subprocess.SubprocessError):
        return False


def q(ident: str) -> str:
    return sql.Identifier(ident).as_string()


def lit(value: str) -> str:
    return sql.Literal(value).as_string()


def main() -> int:
    c = parts()
    if can_connect(c["dbname"]) and can_connect(TEMPLATE):
        return 0
    print(f"==> Creating PostgreSQL role {c['user']} and databases {c['dbname']}, {TEMPLATE}")
    role, pw = q(c["user"]), lit(c["password"])
    script = f"""
SELECT format('CREATE ROLE %I LOGIN', {lit(c["user"])})
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit(c["user"])}) \\gexec
ALTER ROLE {role} LOGIN CREATEDB CREATEROLE NOINHERIT PASSWORD {pw};
"""
    for db in (c["dbname"], TEMPLATE):
        script += f"""
SELECT format('CREATE DATABASE %I OWNER %I', {lit(db)}, {lit(c["user"])})
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {lit(db)}) \\gexec
REVOKE ALL ON DATABASE {q(db)} FROM PUBLIC;
\\connect {q(db)}
-- NOINHERIT keeps the implicit pg_database_owner rights away from the system role: own the
-- schema directly instead.
ALTER SCHEMA public OWNER TO {role};
"""
    admin_psql(script)
    return 0


if __name__ == "__main__":
    sys.exit(main())
