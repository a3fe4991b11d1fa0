"""The demo's one error: a step of the story that did not happen as it must."""

from __future__ import annotations

from api.errors import ApiError


class DemoError(ApiError):
    """The demo could not complete a step (an API refusal, a failed check, a bad option)."""

    default_slug = "demo-failed"
    title = "Demo failed"
