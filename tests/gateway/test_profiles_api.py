"""Staff CRUD of agent profiles at /api/admin/arena/profiles/: permissions and validation."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile, ProfileFallback
from tests.gateway.conftest import make_profile

pytestmark = pytest.mark.django_db
URL = "/api/admin/arena/profiles/"


def body(**changes):
    data = {
        "name": "ollama-bull",
        "role": "bull",
        "provider": "openai_compatible",
        "model": "llama3.2",
        "base_url": "http://127.0.0.1:11434/v1",
        "params": {"temperature": 0.2, "max_tokens": 800, "structured": "json_object"},
        "budget_usd": "0.50",
        "price_input_per_mtok": "0.10",
        "price_output_per_mtok": "0.20",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def fields_of(response) -> dict:
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] in {"invalid", "parse_error"}
    return payload["extra"]["fields"]


def test_only_staff_may_use_it(anon_client, api_client) -> None:
    assert anon_client.get(URL).status_code == 401
    assert api_client.get(URL).status_code == 403
    assert api_client.post(URL, body(), format="json").status_code == 403
    assert not AgentProfile.objects.filter(name="ollama-bull").exists()


def test_create_retrieve_update_delete(staff_client) -> None:
    fallback = make_profile("http://127.0.0.1:9/v1", name="backup-bull")
    created = staff_client.post(URL, body(fallbacks=["backup-bull"]), format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["fallbacks"] == ["backup-bull"] and data["pricing"] == "override"
    assert data["api_key_configured"] is True  # no key variable: the server needs none
    assert created["Location"] == data["url"]

    detail = staff_client.get(data["url"].rstrip("/"))  # with and without the slash
    assert detail.status_code == 200 and detail.json()["budget_usd"] == "0.500000"

    patched = staff_client.patch(data["url"], {"tier": "powerful", "fallbacks": []}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["tier"] == "powerful" and patched.json()["fallbacks"] == []
    assert patched.json()["model"] == "llama3.2"  # untouched fields stay

    put = staff_client.put(data["url"], body(model="qwen2.5"), format="json")
    assert put.status_code == 200 and put.json()["model"] == "qwen2.5"

    listed = staff_client.get(URL).json()
    assert {row["name"] for row in listed["results"]} >= {"ollama-bull", "backup-bull"}

    assert staff_client.delete(data["url"]).status_code == 204
    assert staff_client.get(data["url"]).status_code == 404
    assert AgentProfile.objects.filter(pk=fallback.pk).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "oracle"}, "role"),
        ({"tier": "medium"}, "tier"),
        ({"mode": "sometimes"}, "mode"),
        ({"provider": "acme"}, "provider"),
        ({"budget_usd": "-1"}, "budget_usd"),
        ({"budget_usd": "NaN"}, "budget_usd"),
        ({"price_input_per_mtok": "-0.1"}, "price_input_per_mtok"),
        ({"price_output_per_mtok": None}, "price_output_per_mtok"),
        ({"base_url": ""}, "base_url"),
        ({"base_url": "http://127.0.0.1:11434"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"params": {"temperature": 5}}, "params"),
        ({"params": {"max_tokens": "many"}}, "params"),
        ({"params": {"unknown_knob": 1}}, "params"),
        ({"params": {"structured": "xml"}}, "params"),
        ({"params": ["not", "an", "object"]}, "params"),
        ({"api_key_env": "lower-case-name"}, "api_key_env"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"fallbacks": ["nobody"]}, "fallbacks"),
        ({"repair_profile": "nobody"}, "repair_profile"),
        ({"surprise": 1}, "surprise"),
        ({"model": ...}, "model"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(staff_client, changes, field) -> None:
    fields = fields_of(staff_client.post(URL, body(**changes), format="json"))
    assert field in fields, fields
    assert not AgentProfile.objects.filter(name="ollama-bull").exists()


def test_a_pasted_key_is_refused_and_never_echoed(staff_client) -> None:
    secret = "sk-proj-THISISASECRETKEY1234567890"
    response = staff_client.post(URL, body(api_key_env=secret), format="json")
    assert "api_key_env" in fields_of(response)
    assert secret not in response.content.decode()


def test_provider_specific_rules(staff_client) -> None:
    anthropic = body(provider="anthropic", model="claude-haiku-4-5", base_url="https://proxy.example/v1")
    assert "base_url" in fields_of(staff_client.post(URL, anthropic, format="json"))
    rules = body(provider="rules", model="rules-v1", params={"depth": "deep"})
    assert "base_url" in fields_of(staff_client.post(URL, rules, format="json"))
    openai_params = body(provider="openai", model="gpt-4o-mini", base_url="", params={"api": "chat"})
    assert staff_client.post(URL, openai_params, format="json").status_code == 201


def test_fallbacks_may_not_be_self_cyclic_or_another_role(staff_client) -> None:
    a = make_profile("http://127.0.0.1:9/v1", name="a")
    b = make_profile("http://127.0.0.1:9/v1", name="b", fallbacks=(a,))
    make_profile("http://127.0.0.1:9/v1", name="bear-x", role="bear")

    self_ref = staff_client.patch(f"{URL}{a.pk}", {"fallbacks": ["a"]}, format="json")
    assert "itself" in fields_of(self_ref)["fallbacks"][0]
    cycle = staff_client.patch(f"{URL}{a.pk}", {"fallbacks": ["b"]}, format="json")
    assert "cycle" in fields_of(cycle)["fallbacks"][0]
    other_role = staff_client.patch(f"{URL}{a.pk}", {"fallbacks": ["bear-x"]}, format="json")
    assert "plays bear" in fields_of(other_role)["fallbacks"][0]
    twice = staff_client.patch(f"{URL}{b.pk}", {"fallbacks": ["a", "a"]}, format="json")
    assert "more than once" in fields_of(twice)["fallbacks"][0]
    assert list(ProfileFallback.objects.values_list("profile__name", "fallback__name")) == [("b", "a")]


def test_a_seated_or_referenced_profile_cannot_be_deleted_or_change_role(staff_client, arena) -> None:
    seated = arena.seats.first().profile
    response = staff_client.delete(f"{URL}{seated.pk}")
    assert response.status_code == 409 and "active=false" in response.json()["message"]
    assert "role" in fields_of(staff_client.patch(f"{URL}{seated.pk}", {"role": "judge"}, format="json"))

    target = make_profile("http://127.0.0.1:9/v1", name="target")
    make_profile("http://127.0.0.1:9/v1", name="user", fallbacks=(target,))
    assert staff_client.delete(f"{URL}{target.pk}").status_code == 409


def test_repair_profile_by_name_and_rules_cannot_repair(staff_client) -> None:
    make_profile("http://127.0.0.1:9/v1", name="fixer")
    ok = staff_client.post(URL, body(repair_profile="fixer"), format="json")
    assert ok.status_code == 201 and ok.json()["repair_profile"] == "fixer"
    make_profile(provider="rules", model="rules-v1", name="rules-fixer")
    bad = staff_client.post(URL, body(name="other", repair_profile="rules-fixer"), format="json")
    assert "repair_profile" in fields_of(bad)
    cleared = staff_client.patch(ok.json()["url"], {"repair_profile": None}, format="json")
    assert cleared.json()["repair_profile"] is None


def test_unknown_ids_and_bad_bodies(staff_client) -> None:
    assert staff_client.get(f"{URL}999999").status_code == 404
    assert staff_client.patch(f"{URL}999999", {"tier": "cheap"}, format="json").status_code == 404
    assert staff_client.delete(f"{URL}999999").status_code == 404
    raw = staff_client.post(URL, "{not json", content_type="application/json")
    assert raw.status_code == 400
    assert staff_client.post(URL, [1, 2], format="json").status_code == 400


def test_duplicate_name_is_a_field_error(staff_client) -> None:
    make_profile("http://127.0.0.1:9/v1", name="ollama-bull")
    assert "name" in fields_of(staff_client.post(URL, body(), format="json"))
