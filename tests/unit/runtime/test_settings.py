"""Settings are read once from a mapping: typed, strict, naming bad variables, masking secrets."""

from __future__ import annotations

import ipaddress

import pytest

from domain.retry_policy import RetryPolicy
from runtime import settings as settings_module
from runtime.settings import Settings, SettingsError

DATABASE_URL = "postgresql://wapipe:pg-pass-8c1e@db.internal:5432/wapipe"
REDIS_URL = "redis://:redis-pass-27bd@cache.internal:6379/0"
APP_SECRET = "app-secret-4e0b9d"
VERIFY_TOKEN = "verify-token-71aa"
TOKEN_KEY_HEX = "5c" * 32
PIN = "492817"


def environ(**values: str) -> dict[str, str]:
    return {f"WAPIPE_{name}": value for name, value in values.items()}


def full_environ(**overrides: str) -> dict[str, str]:
    values = {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "APP_SECRET": APP_SECRET,
        "VERIFY_TOKEN": VERIFY_TOKEN,
        "META_APP_ID": "1234567890",
        "TOKEN_KEYS": f"k1:{TOKEN_KEY_HEX}",
        "REGISTER_PIN": PIN,
    }
    values.update(overrides)
    return environ(**values)


def settings_error(**values: str) -> str:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(environ(**values))
    return str(raised.value)


def test_an_empty_environment_gives_the_documented_defaults():
    settings = Settings.from_environ({})
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.broker_url is None
    assert settings.app_secrets == ()
    assert settings.graph_base_url == "https://graph.facebook.com"
    assert settings.max_body_bytes > 3 * 1024 * 1024
    assert settings.rate_limit_per_ip == 0
    assert settings.bad_signature_limit_per_ip == 30
    assert settings.trusted_proxies == ()
    assert settings.retry == RetryPolicy(10, 1_000, 600_000)
    assert settings.onboarding_ttl_hours == 24
    assert (settings.token_warn_days, settings.token_critical_days) == (30, 7)
    assert settings.log_retention_days == 30
    assert settings.env == "production"
    assert settings.log_format == "json"
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)
    assert (settings.worker_metrics_port, settings.scheduler_metrics_port) == (9191, 9192)
    assert settings.relay_lease_seconds == 30


def test_blank_values_count_as_unset():
    settings = Settings.from_environ(environ(DATABASE_URL="  ", MAX_BODY_BYTES="", ENV=" "))
    assert settings.database_url is None
    assert settings.max_body_bytes == settings_module.DEFAULT_MAX_BODY_BYTES
    assert settings.env == "production"


def test_values_are_read_into_their_types():
    settings = Settings.from_environ(
        full_environ(
            MAX_BODY_BYTES="2048",
            RATE_LIMIT_PER_IP="600",
            TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1",
            ENV="Staging",
            LOG_LEVEL="debug",
            GRAPH_BASE_URL="http://127.0.0.1:9999/",
        )
    )
    assert str(settings.database_url) == DATABASE_URL
    assert str(settings.broker_url) == REDIS_URL
    assert settings.max_body_bytes == 2048
    assert settings.rate_limit_per_ip == 600
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.1/32"),
    )
    assert settings.env == "staging"
    assert settings.log_level == "DEBUG"
    assert settings.graph_base_url == "http://127.0.0.1:9999"
    assert settings.token_keys[0].kid == "k1"
    assert settings.token_keys[0].material() == bytes.fromhex(TOKEN_KEY_HEX)


def test_an_amqp_broker_url_overrides_redis_as_the_broker():
    settings = Settings.from_environ(full_environ(BROKER_URL="amqp://guest:guest@mq:5672/"))
    assert str(settings.broker_url) == "amqp://guest:guest@mq:5672/"
    assert str(settings.redis_url) == REDIS_URL


def test_a_comma_separated_app_secret_gives_every_secret_for_rotation():
    settings = Settings.from_environ(environ(APP_SECRET=" old-secret , new-secret,, "))
    assert [str(secret) for secret in settings.app_secrets] == ["old-secret", "new-secret"]


def test_require_names_the_missing_variable():
    settings = Settings.from_environ(environ(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL))
    with pytest.raises(SettingsError, match="WAPIPE_APP_SECRET"):
        settings.require("DATABASE_URL", "APP_SECRET")


def test_require_names_every_missing_variable_and_nothing_present():
    settings = Settings.from_environ(environ(DATABASE_URL=DATABASE_URL))
    with pytest.raises(SettingsError) as raised:
        settings.require("DATABASE_URL", "BROKER_URL", "APP_SECRET", "VERIFY_TOKEN")
    message = str(raised.value)
    for name in ("WAPIPE_BROKER_URL", "WAPIPE_APP_SECRET", "WAPIPE_VERIFY_TOKEN"):
        assert name in message
    assert "DATABASE_URL" not in message


def test_an_app_secret_of_only_commas_is_missing():
    settings = Settings.from_environ(environ(APP_SECRET=" , ,"))
    with pytest.raises(SettingsError, match="WAPIPE_APP_SECRET"):
        settings.require("APP_SECRET")


def test_require_passes_when_everything_is_there():
    Settings.from_environ(full_environ()).require(
        "DATABASE_URL", "REDIS_URL", "BROKER_URL", "APP_SECRET", "VERIFY_TOKEN", "META_APP_ID"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BODY_BYTES", "3MB"),
        ("MAX_BODY_BYTES", "0"),
        ("PORT", "eighty"),
        ("RATE_LIMIT_PER_IP", "-1"),
        ("BAD_SIGNATURE_LIMIT_PER_IP", "1.5"),
        ("MAX_ATTEMPTS", "0"),
        ("RELAY_LEASE_SECONDS", "ten"),
        ("TOKEN_WARN_DAYS", "0"),
    ],
)
def test_a_malformed_integer_names_the_variable_without_echoing_it(name: str, value: str):
    message = settings_error(**{name: value})
    assert f"WAPIPE_{name}" in message
    assert value not in message.removeprefix(f"WAPIPE_{name}")


@pytest.mark.parametrize("name", ["PORT", "WORKER_METRICS_PORT", "SCHEDULER_METRICS_PORT"])
def test_a_port_beyond_65535_is_rejected(name: str):
    assert f"WAPIPE_{name}" in settings_error(**{name: "70000"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BROKER_URL", "http://user:broker-pass-55@mq/"),
        ("BROKER_URL", "mq.internal:5672"),
        ("REDIS_URL", "cache.internal:6379"),
        ("REDIS_URL", "http://:redis-pass-27bd@cache/0"),
        ("DATABASE_URL", "wapipe:pg-pass-8c1e@db.internal/wapipe"),
        ("DATABASE_URL", "mysql://wapipe:pg-pass-8c1e@db.internal/wapipe"),
        ("TOKEN_KEYS", f"k1:{TOKEN_KEY_HEX[:-2]}"),
        ("TOKEN_KEYS", f"{TOKEN_KEY_HEX}"),
        ("TOKEN_KEYS", f"k1:{TOKEN_KEY_HEX},k1:{'7d' * 32}"),
        ("TOKEN_KEYS", f"k1:{'zz' * 32}"),
        ("REGISTER_PIN", "12345"),
        ("REGISTER_PIN", "12345a"),
        ("GRAPH_API_VERSION", "latest"),
        ("NAMESPACE", "has space"),
    ],
)
def test_a_malformed_value_names_the_variable_and_never_echoes_it(name: str, value: str):
    message = settings_error(**{name: value})
    assert f"WAPIPE_{name}" in message
    assert value not in message
    for part in value.replace("@", ":").replace("/", ":").replace(",", ":").split(":"):
        if len(part) >= 6:
            assert part not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgres://u:p@db/wapipe?sslmode=require",
        "host=127.0.0.1 port=5432 dbname=wapipe user=postgres",
        "postgresql:///wapipe?host=/run/postgresql",
    ],
)
def test_every_form_of_postgres_connection_string_is_accepted(url: str):
    assert str(Settings.from_environ(environ(DATABASE_URL=url)).database_url) == url


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/15", "rediss://cache:6380/0", "unix:///tmp/redis.sock?db=2"]
)
def test_every_form_of_redis_url_is_accepted(url: str):
    assert str(Settings.from_environ(environ(REDIS_URL=url)).redis_url) == url


@pytest.mark.parametrize(
    ("name", "value"), [("ENV", "prod"), ("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")]
)
def test_a_value_outside_its_choices_names_the_variable(name: str, value: str):
    assert f"WAPIPE_{name}" in settings_error(**{name: value})


def test_secrets_are_masked_in_the_printed_settings():
    settings = Settings.from_environ(full_environ(APP_SECRET=f"{APP_SECRET},second-secret-0d"))
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.token_keys)):
        for secret in (
            APP_SECRET,
            "second-secret-0d",
            VERIFY_TOKEN,
            "pg-pass-8c1e",
            "redis-pass-27bd",
            TOKEN_KEY_HEX,
            PIN,
        ):
            assert secret not in text
    assert "1234567890" in repr(settings)  # not a secret: the app id is public


def test_a_retry_window_over_a_day_is_rejected():
    message = settings_error(MAX_ATTEMPTS="200", MIN_BACKOFF_MS="1000", MAX_BACKOFF_MS="600000")
    assert "WAPIPE_MAX_ATTEMPTS" in message
    assert "day" in message


def test_backoff_bounds_in_the_wrong_order_are_rejected():
    message = settings_error(MIN_BACKOFF_MS="5000", MAX_BACKOFF_MS="10")
    assert "MIN_BACKOFF_MS" in message
    assert "MAX_BACKOFF_MS" in message


def test_a_critical_threshold_above_the_warning_threshold_is_rejected():
    message = settings_error(TOKEN_WARN_DAYS="5", TOKEN_CRITICAL_DAYS="6")
    assert "WAPIPE_TOKEN_CRITICAL_DAYS" in message
    assert "WAPIPE_TOKEN_WARN_DAYS" in message


def test_equal_token_thresholds_are_accepted():
    settings = Settings.from_environ(environ(TOKEN_WARN_DAYS="7", TOKEN_CRITICAL_DAYS="7"))
    assert (settings.token_warn_days, settings.token_critical_days) == (7, 7)


def test_the_settings_object_is_frozen():
    settings = Settings.from_environ({})
    with pytest.raises(AttributeError):
        settings.max_body_bytes = 1  # type: ignore[misc]


def test_the_ingress_overload_bounds_have_their_documented_defaults():
    settings = Settings.from_environ({})
    assert settings.body_timeout_seconds == 10.0
    assert settings.ingest_max_pending == settings_module.DEFAULT_INGEST_MAX_PENDING == 1024
    assert settings.ingest_max_pending_bytes == 32 * 1024 * 1024
    # uvicorn's own 503 (no Retry-After) only past twice the pipeline's bound.
    assert settings.limit_concurrency == 2 * settings.ingest_max_pending
    assert Settings() == settings


def test_a_body_timeout_may_be_a_fraction_of_a_second():
    assert Settings.from_environ(environ(BODY_TIMEOUT_SECONDS="0.5")).body_timeout_seconds == 0.5
    assert Settings.from_environ(environ(BODY_TIMEOUT_SECONDS="3")).body_timeout_seconds == 3.0


@pytest.mark.parametrize("value", ["0", "-1", "ten", "nan", "inf", "1s"])
def test_a_body_timeout_that_is_not_a_positive_number_is_rejected(value: str):
    message = settings_error(BODY_TIMEOUT_SECONDS=value)
    assert "WAPIPE_BODY_TIMEOUT_SECONDS" in message
    assert value not in message.removeprefix("WAPIPE_BODY_TIMEOUT_SECONDS")


def test_the_concurrency_limit_follows_the_pending_bound_unless_set():
    settings = Settings.from_environ(
        environ(INGEST_MAX_PENDING="100", INGEST_MAX_PENDING_BYTES="1048576")
    )
    assert (settings.ingest_max_pending, settings.ingest_max_pending_bytes) == (100, 1_048_576)
    assert settings.limit_concurrency == 200
    explicit = Settings.from_environ(environ(INGEST_MAX_PENDING="100", LIMIT_CONCURRENCY="101"))
    assert explicit.limit_concurrency == 101


def test_a_concurrency_limit_at_or_under_the_pending_bound_is_rejected():
    message = settings_error(INGEST_MAX_PENDING="100", LIMIT_CONCURRENCY="100")
    assert "WAPIPE_LIMIT_CONCURRENCY" in message
    assert "WAPIPE_INGEST_MAX_PENDING" in message


@pytest.mark.parametrize(
    "name", ["INGEST_MAX_PENDING", "INGEST_MAX_PENDING_BYTES", "LIMIT_CONCURRENCY"]
)
@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bound_that_is_not_a_positive_integer_is_rejected(name: str, value: str):
    assert f"WAPIPE_{name}" in settings_error(**{name: value})
