"""Where a SQL Server instance is: the one rule for hosts, instance names and ports.

The model, the API serializers (which the pages' forms reuse) and `onboard_servers` all check
through here, so whatever is stored can also be connected to.

A host is an IPv4 address, an IPv6 address (brackets optional) or a DNS host name. Names are
checked label by label (1–63 characters of letters, digits, hyphens and underscores, no hyphen
at either end, 253 characters in all, a last label that is not all digits). Internationalised
names go through IDNA 2008 with the UTS 46 mapping and are stored in their ASCII (`xn--`) form,
which is what the driver and DNS need. Invisible and control characters (zero-width spaces and
joiners, bidirectional overrides, soft hyphens, NUL) are refused outright rather than silently
dropped, so a stored name is always the name the user sees.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna
from django.core.exceptions import ValidationError

HOST_MAX_LENGTH = 253
INSTANCE_MAX_LENGTH = 16
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# SQL Server's own rule for instance names: a letter or underscore, then letters, digits,
# underscores or dollar signs, 16 characters at most.
_INSTANCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,15}$")
HOST_HELP = "A host name or IP address (IPv4 or IPv6), e.g. db01.corp.example.com or 10.0.0.5."


def _invisible(value: str) -> str | None:
    """The first character that would not show (format, control, separator other than space)."""
    for char in value:
        if unicodedata.category(char) in {"Cf", "Cc", "Cs", "Co", "Cn", "Zl", "Zp"}:
            return f"U+{ord(char):04X}"
    return None


def _ip(value: str) -> str | None:
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return None
    return str(address)


def validate_host(value: str) -> str:
    """The host as it is stored and connected to; ValidationError saying why it cannot be."""
    host = (value or "").strip()
    if not host:
        raise ValidationError("Enter a host name or IP address.", code="required")
    hidden = _invisible(host)
    if hidden:
        raise ValidationError(
            f"The host contains an invisible or control character ({hidden}). {HOST_HELP}",
            code="invalid_host",
        )
    if "\\" in host:
        raise ValidationError(
            "Put only the host here and the named instance in instance_name "
            "(e.g. host db01, instance_name SQLEXPRESS).",
            code="invalid_host",
        )
    address = _ip(host)
    if address:
        return address
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValidationError(
                f"Not a valid internationalised host name ({exc}). {HOST_HELP}",
                code="invalid_host",
            ) from exc
    labels = host.split(".")
    if (
        len(host) > HOST_MAX_LENGTH
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationError(f"Not a valid host name. {HOST_HELP}", code="invalid_host")
    return host


def validate_instance_name(value: str) -> str:
    """A SQL Server instance name (e.g. SQLEXPRESS), or empty for the default instance."""
    name = (value or "").strip()
    if name and not _INSTANCE.match(name):
        raise ValidationError(
            "An instance name, e.g. SQLEXPRESS: up to 16 letters, digits, _ or $, "
            "starting with a letter or _.",
            code="invalid_instance",
        )
    return name


def check_port(port: int | None, instance_name: str) -> None:
    """No port only for a named instance, whose port SQL Server Browser tells."""
    if port is None and not instance_name:
        message = (
            "Enter a port (1433 by default); only a named instance may leave it empty "
            "to be found through SQL Server Browser."
        )
        raise ValidationError({"port": [message]})


# Model field validators: Django ignores their return value, the serializers store it.
def host_validator(value: str) -> None:
    if validate_host(value) != value:
        raise ValidationError(
            "Store the host in its normal form (trimmed, IDNA, no brackets).", code="invalid_host"
        )


def instance_name_validator(value: str) -> None:
    if validate_instance_name(value) != value:
        raise ValidationError("Store the instance name without surrounding spaces.")


DEFAULT_PORT = 1433


def display(host: str, instance_name: str = "", port: int | None = None) -> str:
    """host[\\instance][,port] as a DBA types it in SQL Server Management Studio; the default
    port goes without saying."""
    text = host + (f"\\{instance_name}" if instance_name else "")
    return text + (f",{port}" if port and port != DEFAULT_PORT else "")
