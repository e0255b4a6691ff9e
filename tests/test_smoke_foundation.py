from tests.helpers import assert_problem


def test_register_login_me(client, accounts):
    user, headers = accounts.user()
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["email"] == user["email"]


def test_me_without_token_is_401_problem(client):
    assert_problem(client.get("/api/v1/auth/me"), 401)
