"""Secrets a machine generates for itself when `.env` does not give them: the secret key and
the encryption key. They live with the machine's data, not in the checkout: the databases they
protect outlive any one checkout.

The set-up (`scripts/setup.sh`, run by `make setup`, `make run` and `make test`) writes them with
`python -m dbtools.local_secrets`; the settings only read them, so importing the settings (in a
test, a shell, a worker) never writes a secret file.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

# name -> (random bytes, the fewest characters a usable value has). The secret key's 48 bytes
# give 64 characters, above the 50 that Django's deployment checks ask for; a shorter one
# (written by an older DbTools) is replaced.
SECRETS = {"secret_key": (48, 50), "encryption_key": (32, 0)}
# The setting that, when set, makes the stored secret unnecessary.
OVERRIDES = {"secret_key": "DBTOOLS_SECRET_KEY", "encryption_key": "DBTOOLS_ENCRYPTION_KEYS"}


class MissingSecret(Exception):
    pass


def state_dir() -> Path:
    """DBTOOLS_STATE_DIR, else $XDG_DATA_HOME/dbtools, else ~/.local/share/dbtools."""
    if os.environ.get("DBTOOLS_STATE_DIR"):
        return Path(os.environ["DBTOOLS_STATE_DIR"])
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "dbtools"


def read(name: str) -> str:
    """The stored secret `name`; MissingSecret when the set-up has not written it."""
    path = state_dir() / name
    value = path.read_text().strip() if path.exists() else ""
    if len(value) < max(SECRETS[name][1], 1):
        raise MissingSecret(
            f"No usable {name} in {path}: run `make setup` (scripts/setup.sh) once on this "
            f"machine, or set {OVERRIDES[name]} in .env."
        )
    return value


def ensure() -> list[str]:
    """Write each missing (or too short) secret, readable by its owner only. Returns the names
    written."""
    folder = state_dir()
    written = []
    for name, (nbytes, min_chars) in SECRETS.items():
        path = folder / name
        if path.exists() and len(path.read_text().strip()) >= max(min_chars, 1):
            continue
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode())
        written.append(name)
    return written


if __name__ == "__main__":
    for name in ensure():
        print(f"generated {state_dir() / name}", file=sys.stderr)
