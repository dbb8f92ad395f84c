"""The server list's bulk "deploy policy": to every group the ticked servers belong to."""

import pytest

from policies import actions
from policies.models import PolicyDeployment
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def make_server(name):
    return server_actions.create_server(
        {
            "name": name,
            "host": f"{name.lower()}.corp",
            "port": 1433,
            "auth_type": "sql",
            "username": "dbtools",
            "password": "x",
        }
    )


@pytest.fixture
def operator(client, make_user, tenant_alpha):
    client.force_login(make_user("olga", tenant_alpha, "operator"))
    return client


@pytest.fixture
def policy():
    return actions.create_policy(
        {
            "name": "Nightly CHECKDB",
            "policy_type": "integrity_check",
            "status": "active",
            "configuration": {"databases": "USER_DATABASES"},
        },
        acting_user=None,
    )


def test_deploys_to_each_group_of_the_selected_servers_once(operator, policy):
    a, b, c = make_server("SQLA"), make_server("SQLB"), make_server("SQLC")
    prod, web, other = (server_actions.create_group(n) for n in ("Prod", "Web", "Other"))
    server_actions.add_to_group(prod, [a, b])
    server_actions.add_to_group(web, [b])
    server_actions.add_to_group(other, [c])
    r = operator.post(
        "/policies/bulk-deploy",
        {"policy": policy.pk, "server_ids": [a.pk, b.pk], "next": "/servers/?q=SQL"},
        follow=True,
    )
    assert r.redirect_chain[0][0] == "/servers/?q=SQL"
    assert "Nightly CHECKDB v1 deployed to Prod, Web." in r.content.decode()
    deployed = PolicyDeployment.objects.filter(removed_at__isnull=True)
    assert sorted(deployed.values_list("group__name", flat=True)) == ["Prod", "Web"]


def test_servers_in_no_group_are_refused_with_a_reason(operator, policy):
    lone = make_server("SQLLONE")
    r = operator.post(
        "/policies/bulk-deploy", {"policy": policy.pk, "server_ids": [lone.pk]}, follow=True
    )
    assert "The selected servers are in no group" in r.content.decode()
    assert not PolicyDeployment.objects.exists()


def test_a_draft_policy_is_refused(operator):
    draft = actions.create_policy(
        {"name": "Draft", "policy_type": "integrity_check", "configuration": {}},
        acting_user=None,
    )
    server = make_server("SQLD")
    server_actions.add_to_group(server_actions.create_group("G"), [server])
    r = operator.post(
        "/policies/bulk-deploy", {"policy": draft.pk, "server_ids": [server.pk]}, follow=True
    )
    assert "Activate the policy before deploying it" in r.content.decode()
    assert not PolicyDeployment.objects.exists()


def test_nothing_chosen_says_what_is_missing(operator):
    r = operator.post("/policies/bulk-deploy", {}, follow=True)
    html = r.content.decode()
    assert "Choose a policy to deploy." in html and "Select at least one server." in html


def test_viewers_cannot_bulk_deploy(client, make_user, tenant_alpha, policy):
    client.force_login(make_user("vic", tenant_alpha, "viewer"))
    server = make_server("SQLV")
    r = client.post("/policies/bulk-deploy", {"policy": policy.pk, "server_ids": [server.pk]})
    assert r.status_code == 403
