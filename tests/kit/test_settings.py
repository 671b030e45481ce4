import pytest
from pydantic import SecretStr, ValidationError

from herald.kit.settings import Environment, ServiceSettings, load_settings

pytestmark = pytest.mark.fast


class WithSecret(ServiceSettings):
    bootstrap_secret: SecretStr = SecretStr("changeme")


def test_reads_herald_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_HTTP_PORT", "8123")
    monkeypatch.setenv("HERALD_SERVICE_NAME", "audit")
    settings = load_settings(ServiceSettings)
    assert settings.http_port == 8123
    assert settings.service_name == "audit"


def test_placeholder_secrets_are_accepted_in_development() -> None:
    assert load_settings(WithSecret, environment=Environment.DEVELOPMENT).bootstrap_secret.get_secret_value()


@pytest.mark.parametrize("value", ["changeme", "", "dev-bootstrap"])
def test_placeholder_secrets_are_refused_outside_development(value: str) -> None:
    with pytest.raises(ValidationError, match="HERALD_BOOTSTRAP_SECRET holds a placeholder"):
        load_settings(WithSecret, environment=Environment.PRODUCTION, bootstrap_secret=SecretStr(value))


def test_real_secret_is_accepted_in_production() -> None:
    settings = load_settings(WithSecret, environment="production", bootstrap_secret=SecretStr("x8Kq2-very-random"))
    assert settings.environment is Environment.PRODUCTION


def test_secrets_do_not_show_in_repr() -> None:
    settings = load_settings(WithSecret, bootstrap_secret=SecretStr("s3cr3t-value-123"))
    assert "s3cr3t-value-123" not in repr(settings)
