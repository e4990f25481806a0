"""Settings of the notifications service: environment prefix ``TRELLIS_NOTIFICATIONS_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from trellis.core.runtime.settings import GENERATE_A_SECRET, ServiceSettings
from trellis.notifications.webhooks.secret_box import DEV_WEBHOOK_SECRET_KEY

# After the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (about 3 days).
DEFAULT_RETRY_SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0]


class NotificationsSettings(ServiceSettings):
    """E.g. ``TRELLIS_NOTIFICATIONS_WEBHOOK_RETRY_SCHEDULE='[1, 10, 60]'``."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_NOTIFICATIONS_", extra="ignore")

    service: str = "notifications"
    http_port: int = 8004
    digest_hour_utc: int = Field(default=8, ge=0, le=23, description="when a day's digest is sent, next day")
    webhook_retry_schedule: list[float] = Field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE))
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1, description="± share of each delay")
    webhook_max_retry_after: float = Field(default=86400.0, description="cap on a Retry-After honoured")
    webhook_timeout: float = Field(default=10.0, gt=0, description="seconds for one HTTP attempt")
    webhook_disable_after_failures: int = Field(
        default=5, ge=1, description="consecutive deliveries given up before the subscription is disabled"
    )
    webhook_concurrency: int = Field(default=32, ge=1, description="attempts in flight at once, in all")
    webhook_per_subscription_concurrency: int = Field(default=4, ge=1)
    webhook_poll_interval: float = Field(default=1.0, gt=0)
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0)
    # None: allowed in the embedded development run only (``embedded_run``: `trellis up` on
    # SQLite), refused anywhere else. Set it explicitly to decide either way.
    webhook_allow_private_urls: bool | None = None
    # An HTTP(S) proxy every delivery goes through (e.g. an egress filter such as
    # Smokescreen). The proxy then resolves the hosts and must refuse internal addresses;
    # without one, each connection goes to the addresses checked for it.
    webhook_egress_proxy: str | None = None
    # Keys sealing the webhook signing secrets at rest, comma-separated, newest first (see
    # ``webhooks/secret_box.py`` for rotation); any high-entropy strings.
    webhook_secret_keys: str = Field(default=DEV_WEBHOOK_SECRET_KEY, min_length=16)

    def development_values(self) -> dict[str, str]:
        found = super().development_values()
        if DEV_WEBHOOK_SECRET_KEY in [k.strip() for k in self.webhook_secret_keys.split(",")]:
            # a published key opens every stored signing secret
            found[self.setting_name("webhook_secret_keys")] = GENERATE_A_SECRET
        return found

    @property
    def allow_private_webhook_urls(self) -> bool:
        if self.webhook_allow_private_urls is not None:
            return self.webhook_allow_private_urls
        return self.embedded_run
