"""Service settings (pydantic-settings). Each service reads its own prefix, e.g. ``TRELLIS_GOALS_``.

Every default runs the embedded mode: SQLite under ``data_dir``, the packaged
nats-server on port 14222 (not 4222, where an older system NATS may listen), and an
HS256 development secret. Production sets ``database_url``, ``nats_url``,
``nats_credentials`` and ``jwt_public_key`` (or a real ``jwt_secret``).

Development-only values (the development JWT secret, a service's own development keys,
the test clock) are refused at start-up outside the *embedded run*: see
``ServiceSettings.embedded_run`` and ``refuse_development_values``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trellis.core.store.database import is_sqlite

DEV_JWT_SECRET = "trellis-dev-secret-change-me-in-production"
EMBEDDED_NATS_URL = "nats://127.0.0.1:14222"
GENERATE_A_SECRET = "set a secret of your own, e.g. `openssl rand -hex 32`"


class DevelopmentValueRefused(RuntimeError):
    """A service outside the embedded run was started with a development-only value."""


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``env_prefix`` and add their own."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_", extra="ignore")

    service: str = "trellis"
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file <data_dir>/<service>.db
    database_schema: str | None = None  # PostgreSQL schema for this service's tables
    nats_url: str = EMBEDDED_NATS_URL
    nats_credentials: str | None = None  # path to a .creds file
    # With a NATS account per service: where this account imports another service's
    # JetStream API, ``{service}`` standing for its name (``JS.{service}.API`` in
    # deploy/nats/accounts.conf). None: every stream is in one account (the embedded run).
    nats_import_prefix: str | None = None
    subject_root: str = "trellis"
    stream_replicas: int = 1  # 3 in a three-node cluster
    # The service's stream in this many partitions by aggregate: up to this many instances
    # share each projection's work, in order per aggregate. Fixed once the stream holds
    # events (re-partitioning means a new stream).
    partitions: int = Field(default=1, ge=1, le=64)
    lease_ttl: float = Field(default=10.0, gt=0)  # seconds a dead instance's partitions stay held
    consumer_ack_wait: float = Field(default=30.0, gt=0)  # seconds before an unacked message returns
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jwt_secret: str = DEV_JWT_SECRET
    jwt_public_key: str | None = Field(default=None, description="PEM; switches to asymmetric")
    jwt_algorithms: list[str] = ["HS256"]
    jwt_jwks_url: str | None = Field(
        default=None, description="the identity provider's JWKS URL; switches to its rotating keys"
    )
    jwt_jwks_max_age: float = Field(
        default=600.0, gt=0, description="seconds before the keys are fetched again"
    )
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    log_json: bool | None = None  # None: JSON when stderr is not a terminal
    log_level: str = "INFO"
    relay_batch_size: int = 500
    # The relay looks for unpublished rows this often when nothing wakes it; a commit in
    # this process wakes it at once, and on PostgreSQL a commit in any process (LISTEN).
    relay_poll_interval: float = Field(default=0.5, gt=0)
    consumer_batch_size: int = 1000
    # Group commit (core/store/sessions.py): commands that arrive together share one
    # transaction and one commit, each behind a savepoint of its own. None: on for SQLite,
    # off for PostgreSQL, as measured (bench/group_commit.py, docs/performance.md).
    group_commit: bool | None = None
    group_commit_max_batch: int = Field(default=32, ge=1, le=64)  # commands per commit at most
    group_commit_max_age: float = Field(default=0.005, ge=0)  # seconds a batch takes commands
    run_consumers: bool = True
    run_relay: bool = True
    run_deadlines: bool = True
    run_workers: bool = True  # the service's own loops (ServiceDefinition.workers)
    shutdown_grace: float = 10.0  # seconds to finish in-flight batches and flush the outbox
    # Admission (core/admission.py): refused at once, before parsing or authentication.
    max_body_bytes: int = Field(default=1_048_576, ge=1)  # larger bodies: 413
    # Commands (POST/PUT/PATCH/DELETE) in flight at once; more: 503 with Retry-After, and
    # /ready reports overload. 0: unbounded. The bound adapts below this ceiling so that
    # commands take about command_latency_target seconds (0: a fixed bound); see
    # bench/overload.py for what it holds at twice the saturating rate.
    max_commands_in_flight: int = Field(default=64, ge=0)
    command_latency_target: float = Field(default=0.05, ge=0)
    max_reads_in_flight: int = Field(default=256, ge=0)  # GETs; cheaper, but they share the loop
    overload_retry_after: int = Field(default=1, ge=0)  # seconds, the 503's Retry-After
    # Commands a second per tenant (a token bucket, bursts of tenant_command_burst, 0: one
    # second's worth); more: 429 with Retry-After. 0: no per-tenant limit.
    tenant_command_rate: float = Field(default=0.0, ge=0)
    tenant_command_burst: float = Field(default=0.0, ge=0)
    # Never in production: a clock an admin can move over HTTP (POST /v1/test-clock), for
    # trying deadlines out (a milestone missed, a check-in missed) without waiting days. It
    # is one clock for the whole process, so every tenant's time moves: refused outside the
    # embedded run (see ``refuse_development_values``).
    test_clock: bool = False
    # Set by ``trellis up`` for the services it starts (and by nothing else): this process
    # is the embedded development run. See ``embedded_run``.
    embedded: bool = False

    @model_validator(mode="after")
    def _default_database(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / (self.service + '.db')}"
        if (self.jwt_public_key or self.jwt_jwks_url) and self.jwt_algorithms == ["HS256"]:
            self.jwt_algorithms = ["RS256", "ES256", "EdDSA"]
        return self

    @property
    def embedded_run(self) -> bool:
        """Whether this is the embedded development run: started by ``trellis up`` (the
        ``embedded`` flag) *and* on a SQLite file.

        Neither alone is enough: SQLite is no proof of a developer's machine (a small
        installation may run on it), and the flag with a shared PostgreSQL database is a
        deployment with a copied setting. Only here may development values run.
        """
        return self.embedded and is_sqlite(self.database_url)

    @property
    def commits_grouped(self) -> bool:
        """Whether commands commit in groups (``group_commit``, or its default for the database)."""
        return is_sqlite(self.database_url) if self.group_commit is None else self.group_commit

    def setting_name(self, field: str) -> str:
        """The environment variable that sets ``field`` for this service."""
        return f"{self.model_config.get('env_prefix', '')}{field}".upper()

    def development_values(self) -> dict[str, str]:
        """The settings (environment variable names) holding a development-only value, each
        with what to do about it. Services with secrets of their own add theirs."""
        found: dict[str, str] = {}
        hmac_signed = any(alg.upper().startswith("HS") for alg in self.jwt_algorithms)
        if self.jwt_secret == DEV_JWT_SECRET and hmac_signed:
            found[self.setting_name("jwt_secret")] = GENERATE_A_SECRET
        if self.test_clock:
            found[self.setting_name("test_clock")] = (
                "the test clock moves time for every tenant: single-tenant tests only"
            )
        return found

    def refuse_development_values(self) -> None:
        """Raise ``DevelopmentValueRefused`` naming each development-only setting in use,
        unless this is the embedded run. Called when a service process starts."""
        if self.embedded_run:
            return
        found = self.development_values()
        if found:
            listed = "; ".join(f"{name} ({remedy})" for name, remedy in found.items())
            raise DevelopmentValueRefused(
                f"{self.service} refuses to start with development-only settings outside the "
                f"embedded run (`trellis up` on SQLite): {listed}"
            )
