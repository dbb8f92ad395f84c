import base64
import os

import pytest
from django.core.management import call_command

from dbtools import crypto
from servers.models import Server
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(databases="__all__")


def test_rotation_reencrypts_every_credential(settings, tenant_alpha, in_tenant, capsys):
    with in_tenant(tenant_alpha):
        server = Server.objects.create(
            name="S1", host="h", username="u", password_encrypted=crypto.encrypt("s3cret")
        )
    old = settings.DBTOOLS_ENCRYPTION_KEYS
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    settings.DBTOOLS_ENCRYPTION_KEYS = f"k2:{new_key},{old}"
    call_command("rotate_encryption_key")
    assert "now under key 'k2'" in capsys.readouterr().out
    tenant_alpha.refresh_from_db()
    assert crypto.key_id_of(tenant_alpha.db_password_encrypted) == "k2"
    with in_tenant(tenant_alpha):
        server.refresh_from_db()
    assert crypto.key_id_of(server.password_encrypted) == "k2"
    assert crypto.decrypt(server.password_encrypted) == "s3cret"
    # The old key can go now.
    settings.DBTOOLS_ENCRYPTION_KEYS = f"k2:{new_key}"
    assert crypto.decrypt(Tenant.objects.get(slug="alpha").db_password_encrypted)


def test_tampered_or_unknown_ciphertext_fails():
    token = crypto.encrypt("x")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token[:-4] + "AAAA")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token.replace(crypto.current_key_id(), "other", 1))
