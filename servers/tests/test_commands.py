import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from servers.models import Server

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def test_onboard_servers_command(sqlsim, capsys):
    p1, p2 = sqlsim.port("SQLPROD01"), sqlsim.port("SQLPROD02")
    down = sqlsim.port("SQLDOWN01")
    args = [
        "--tenant",
        "alpha",
        "--ports",
        f"{p1},{p2},{down}",
        "--username",
        sqlsim.login,
        "--password",
        sqlsim.password,
        "--group",
        "Prod",
        "--label",
        "prod",
        "--deploy",
    ]
    call_command("onboard_servers", *args)
    out, err = capsys.readouterr()
    assert "2 server(s) onboarded, 2 deployed" in out
    assert str(down) in err
    names = set(Server.objects.values_list("name", flat=True))
    assert names == {"SQLPROD01", "SQLPROD02"}
    assert set(Server.objects.values_list("product_name", flat=True)) == {
        "SQL Server 2019",
        "SQL Server 2022",
    }
    assert set(Server.objects.values_list("monitoring_status", flat=True)) == {"monitored"}
    assert Server.objects.filter(groups__name="Prod", labels__name="prod").count() == 2
    call_command("onboard_servers", *args)  # again: nothing new
    assert "0 server(s) onboarded" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command(
            "onboard_servers",
            "--tenant",
            "alpha",
            "--ports",
            "x-y",
            "--username",
            "u",
            "--password",
            "p",
        )
