import pytest

from richpanel_destination.settings import Settings, SettingsError


def test_from_env_reads_template_names() -> None:
    settings = Settings.from_env(
        {
            "RICHPANEL_BASE_URL": "http://127.0.0.1:4010/v2/",
            "RICHPANEL_SECRET_ARN": "arn:aws:secretsmanager:r:1:secret:rp",
            "INBOUND_AUTH": "writekey",
            "LOG_PERSONAL_DATA": "true",
            "RICHPANEL_SIGNING": "sha256",
            "RICHPANEL_CONNECT_TIMEOUT_SECONDS": "0.5",
            "RETRY_QUEUE_URL": "q",
            "DEAD_LETTER_QUEUE_URL": "d",
            "RETRY_BACKOFF_BASE_SECONDS": "0.2",
        }
    )
    assert settings.base_url == "http://127.0.0.1:4010/v2"
    assert settings.signing == "sha256"
    assert settings.connect_timeout == 0.5
    assert settings.read_timeout == 3.0
    assert (settings.retry_queue_url, settings.dead_letter_queue_url) == ("q", "d")
    assert settings.backoff_base == 0.2
    assert settings.richpanel_secret_arn == "arn:aws:secretsmanager:r:1:secret:rp"
    assert (settings.inbound_auth, settings.log_personal_data) == ("writekey", True)


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.base_url == "https://api.richpanel.com/v2"
    assert settings.signing == "md5"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RICHPANEL_SIGNING": "sha1"}, "RICHPANEL_SIGNING"),
        ({"RICHPANEL_READ_TIMEOUT_SECONDS": "soon"}, "RICHPANEL_READ_TIMEOUT_SECONDS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("raw", "size"), [(None, 0), ("", 0), ("0", 0), ("1", 1), ("2", 2), (" 50 ", 50)]
)
def test_richpanel_batch_size_is_off_by_default_and_at_most_50(raw: str | None, size: int) -> None:
    env = {} if raw is None else {"RICHPANEL_BATCH_SIZE": raw}
    assert Settings.from_env(env).richpanel_batch_size == size


@pytest.mark.parametrize("raw", ["-1", "51", "500", "ten", "2.5"])
def test_richpanel_batch_size_out_of_range_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="RICHPANEL_BATCH_SIZE"):
        Settings.from_env({"RICHPANEL_BATCH_SIZE": raw})


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 86_400), ("", 86_400), ("0", 0), (" 3600 ", 3600)]
)
def test_webhook_signature_max_age_defaults_to_a_day(raw: str | None, seconds: int) -> None:
    env = {} if raw is None else {"WEBHOOK_SIGNATURE_MAX_AGE_SECONDS": raw}
    assert Settings.from_env(env).webhook_signature_max_age == seconds


@pytest.mark.parametrize("raw", ["-1", "a day", "1.5"])
def test_webhook_signature_max_age_must_be_whole_seconds(raw: str) -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_SIGNATURE_MAX_AGE_SECONDS"):
        Settings.from_env({"WEBHOOK_SIGNATURE_MAX_AGE_SECONDS": raw})


def test_order_fields_default_to_both_and_take_only_the_three_choices() -> None:
    from richpanel_destination.settings import Settings, SettingsError

    assert Settings.from_env({}).order_fields == "both"
    for choice in ("documented", "plugin", "both"):
        assert Settings.from_env({"RICHPANEL_ORDER_FIELDS": choice}).order_fields == choice
    with pytest.raises(SettingsError, match="RICHPANEL_ORDER_FIELDS must be one of"):
        Settings.from_env({"RICHPANEL_ORDER_FIELDS": "camel"})


def test_freshness_is_off_without_a_table_and_stale_orders_take_two_choices() -> None:
    from richpanel_destination.settings import Settings, SettingsError

    defaults = Settings.from_env({})
    assert (defaults.freshness_table, defaults.stale_order_events) == ("", "strip")
    assert defaults.freshness_ttl == 400 * 86_400
    on = Settings.from_env(
        {"FRESHNESS_TABLE": "marks", "FRESHNESS_TTL_SECONDS": "172800",
         "STALE_ORDER_EVENTS": "supersede"}
    )  # fmt: skip
    assert (on.freshness_table, on.freshness_ttl, on.stale_order_events) == (
        "marks", 172_800, "supersede"
    )  # fmt: skip
    with pytest.raises(SettingsError, match="STALE_ORDER_EVENTS must be one of"):
        Settings.from_env({"STALE_ORDER_EVENTS": "drop"})


def test_the_retry_window_is_a_day_by_default_in_whole_seconds() -> None:
    assert Settings.from_env({}).retry_window == 86_400
    assert Settings.from_env({"RETRY_WINDOW_SECONDS": "60"}).retry_window == 60
    assert Settings.from_env({"RETRY_WINDOW_SECONDS": "0"}).retry_window == 0  # no window
    for raw in ("1.5", "-1", "a day"):
        with pytest.raises(SettingsError, match="RETRY_WINDOW_SECONDS"):
            Settings.from_env({"RETRY_WINDOW_SECONDS": raw})


def test_browser_profile_fields_default_to_names_and_refuse_bad_names() -> None:
    from richpanel_destination.inbound.scopes import DEFAULT_BROWSER_PROFILE_FIELDS

    assert Settings.from_env({}).browser_profile_fields == DEFAULT_BROWSER_PROFILE_FIELDS
    assert "email" not in Settings.from_env({}).browser_profile_fields
    env = {"BROWSER_PROFILE_FIELDS": "firstName,company"}
    assert Settings.from_env(env).browser_profile_fields == {"firstName", "company"}
    assert Settings.from_env({"BROWSER_PROFILE_FIELDS": "none"}).browser_profile_fields == set()
    with pytest.raises(SettingsError, match="BROWSER_PROFILE_FIELDS must be comma-separated"):
        Settings.from_env({"BROWSER_PROFILE_FIELDS": "traits.email"})
