import pytest

from richpanel_destination.mapping.filtering import skip_reason

BASE = {"type": "track", "userId": "u", "event": "E"}


@pytest.mark.parametrize(
    ("integrations", "skipped"),
    [
        (None, False),
        ({}, False),
        ({"Richpanel": False}, True),
        ({"richpanel": False}, True),
        ({"All": False}, True),
        ({"all": False, "RICHPANEL": True}, False),
        ({"All": False, "Richpanel": {"some": "settings"}}, False),
        ({"All": True, "Richpanel": False}, True),
        ({"Webhooks": False}, False),
    ],
)
def test_integrations_object(integrations: dict[str, object] | None, skipped: bool) -> None:
    event = {**BASE, "integrations": integrations} if integrations is not None else BASE
    assert (skip_reason(event) is not None) is skipped


@pytest.mark.parametrize("call_type", ["screen", "group", "alias", "delete"])
def test_types_richpanel_does_not_take_are_skipped(call_type: str) -> None:
    assert skip_reason({"type": call_type}) == f"Richpanel does not take {call_type} calls"


def test_screen_is_delivered_only_with_the_setting() -> None:
    screen = {"type": "screen", "userId": "u", "name": "Cart"}
    assert skip_reason(screen) == "Richpanel does not take screen calls"
    assert skip_reason(screen, screens_as_page_views=True) is None


def test_delete_is_skipped() -> None:
    assert skip_reason({"type": "delete", "userId": "u"}) == "Richpanel does not take delete calls"


@pytest.mark.parametrize(
    "integrations",
    [
        {"All": False, "Webhooks (Actions)": True},  # an Engage audience sync to Webhooks (Actions)
        {"All": False, "webhooks": True},
        {"all": False, "Webhook": True},
        {"All": False, "WEBHOOKS (ACTIONS)": {"some": "settings"}},
        {"All": False},  # Segment let it through to the webhook: not filtered a second time
    ],
)
def test_forwarded_calls_are_not_filtered_again(integrations: dict[str, object]) -> None:
    event = {**BASE, "integrations": integrations}
    assert skip_reason(event) is not None  # on the Tracking API routes it is skipped
    assert skip_reason(event, forwarded=True) is None


@pytest.mark.parametrize("name", ["Richpanel", "richpanel", "RICHPANEL"])
def test_richpanel_false_skips_forwarded_calls_too(name: str) -> None:
    event = {**BASE, "integrations": {"All": False, "Webhooks (Actions)": True, name: False}}
    assert skip_reason(event, forwarded=True) == "integrations.Richpanel is false"
