"""The one settings class. Every option is an environment variable with the ``NUFAIR_`` prefix."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The development token (all scopes). Refused outside ``environment=development``.
DEV_TOKEN = "nufair-dev-token"

#: Every write scope a token can carry.
SCOPES = ("ingest", "scan", "admin", "subscribe")


class BadSettings(SystemExit):
    """Settings that cannot be used: its message (one line per bad variable) is what the
    process prints as it exits (status 1)."""


def load_settings() -> Settings:
    """The settings from the environment; :class:`BadSettings` (one clear line per bad
    ``NUFAIR_*`` variable, no traceback) when any is refused."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            name = f"NUFAIR_{field.upper()}" if field else "settings"
            lines.append(f"bad setting {name}: {err['msg'].removeprefix('Value error, ')}")
        raise BadSettings("\n".join(lines)) from None


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a bearer token: tokens are configured and compared hashed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Settings(BaseSettings):
    """nufair configuration (environment variables ``NUFAIR_*``, or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="NUFAIR_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded server (pgserver) in data_dir/pg.",
    )
    data_dir: Path = Field(default=Path("var"), description="Embedded database and artifacts.")
    artifacts_url: str | None = Field(
        default=None,
        description="fsspec URL of the artifact files (s3://bucket/prefix, "
        "file:///srv/nufair-artifacts, ...); unset: the folder data_dir/artifacts.")
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    #: SHA-256 of each token → its scopes, as JSON:
    #: ``NUFAIR_TOKENS='{"<sha256 hex>": ["ingest", "scan"]}'``.
    tokens: dict[str, list[str]] = Field(default_factory=dict)
    tokens_file: Path | None = Field(
        default=None,
        description="JSON file like NUFAIR_TOKENS, re-read when it changes (rotation).")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, description="Larger bodies get 413.")
    cors_origins: list[str] = Field(
        default=["*"], description='Origins allowed by CORS, as JSON (["https://a.example"]); '
        '["*"]: any (the read-only VO and REST endpoints are public); []: CORS off.')
    catalog_page_size: int = Field(default=100, ge=1, le=1000,
                                   description="Alerts per page of the DCAT catalog (/catalog).")
    catalog_max_builds: int = Field(
        default=2, ge=1, description="DCAT catalog pages built at once; more get 503.")
    health_interval_s: float = Field(
        default=2.0, gt=0, description="Seconds between the database checks of /healthz.")
    tap_jobs_per_owner: int = Field(
        default=10, ge=1, description="Active TAP async jobs per owner (token, or client IP).")
    tap_jobs_kept_per_owner: int = Field(
        default=100, ge=1, description="TAP async jobs kept per owner, in any phase.")
    tap_jobs_active_max: int = Field(
        default=1000, ge=1, description="Active TAP async jobs of all owners together.")
    tap_running_per_owner: int = Field(
        default=1, ge=1, description="TAP async jobs of one owner executing at once.")
    tap_result_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest TAP async result kept.")
    tap_destruction_max_s: float = Field(
        default=7 * 86_400, gt=0, description="Latest TAP async DESTRUCTION, from now.")
    tap_waits_per_client: int = Field(
        default=4, ge=0, description="UWS WAITs held at once per client; more answer at once.")
    gil_switch_interval_s: float = Field(
        default=0.001, gt=0, le=0.1,
        description="Python's thread switch interval in the server (sys.setswitchinterval).")
    bulk_niceness: int = Field(
        default=19, ge=0, le=19,
        description="CPU niceness of the VO engine's PostgreSQL backends (TAP, cone "
        "search, DataLink) when the database runs on this machine, below the event "
        "loop's; 0: off.")
    bulk_thread_niceness: int = Field(
        default=0, ge=0, le=19,
        description="CPU niceness of the handler threads and TAP job runners; 0: off "
        "(measured to lengthen the event loop's GIL waits).")
    adql_parse_processes: int = Field(
        default=1, ge=0, le=8,
        description="Processes that parse long ADQL texts off the server's GIL (0: none).")
    tap_timeout_s: float = Field(
        default=30.0, gt=0,
        description="Seconds a synchronous TAP query, cone search or DataLink read may take.")
    tap_async_timeout_s: float = Field(
        default=600.0, gt=0,
        description="Seconds a TAP async job may execute (its default and longest "
                    "EXECUTIONDURATION).")
    tap_sync_slots: int = Field(
        default=12, ge=1, le=18,
        description="Synchronous TAP queries run at once (the VO pool has 20 connections).")
    tap_heavy_slots: int = Field(
        default=2, ge=1,
        description="Of those, queries the planner expects to be heavy; each one's answer "
                    "is written by a CPU-bound thread, so more than the cores only adds "
                    "latency to everything else.")
    worker_threads: int = Field(
        default=40, ge=4, le=400,
        description="Threads that run blocking request handlers (AnyIO's default limiter).")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text or one JSON object per line "
        "(timestamp, level, logger, message, alert/scan/notice ids).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    load_sample: bool = Field(default=True, description="make run loads the bundled sample.")
    sky_hips_url: str | None = Field(
        default=None,
        description="Base URL of a HiPS survey (its folder of `properties` and Norder*/ "
        "tiles) drawn under the interactive sky of the pages; unset: a coordinate grid, and "
        "the pages fetch nothing from any other host.")
    tap_upload_url_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts TAP UPLOAD may fetch tables from by http(s) URL, as JSON "
        '(["vizier.cds.unistra.fr"]); empty: tables must come with the request.')
    # --- the VO registry records (vo/registry.py; contact e-mail: contact_email)
    vo_authority: str = Field(
        default="ivo://nufair", pattern=r"^ivo://[\w\d][\w\d\-_.!~*'()+=]{2,}$",
        description="IVOA authority the OAI-PMH registry manages; the records are "
        "<authority>, <authority>/registry and <authority>/tap.")
    vo_title: str = Field(
        default="nufair: high-energy neutrino alerts (TAP, cone search, DataLink)",
        min_length=1, description="Title of the VO services' registry record.")
    vo_publisher: str = Field(default="nufair neutrino alert archive", min_length=1,
                              description="Publisher of the VO registry records.")
    vo_creator: str = Field(default="IceCube Collaboration", min_length=1,
                            description="Creator of the data the VO services publish.")
    vo_contact_name: str = Field(default="nufair operators", min_length=1,
                                 description="Contact of the VO registry records.")
    # --- persistent identifiers (catalog/fair/pids.py)
    pid_provider: Literal["local", "datacite"] = "local"
    doi_prefix: str = Field(default="10.5072", description="10.5072 is DataCite's test prefix.")
    doi_resolver: str | None = Field(
        default=None, description="URL before prefix/suffix; unset: the service itself for "
        "the local provider, https://doi.org/ for DataCite.")
    oai_page_size: int = Field(default=100, ge=1, le=1000, description="OAI-PMH items per page")
    pid_sync_interval_s: float = Field(
        default=0, ge=0,
        description="Seconds between PID registration passes in the server; 0 = none "
        "(run `nufair pids sync` from cron instead).")
    datacite_url: str = "https://api.test.datacite.org/"
    datacite_user: str = ""
    datacite_password: SecretStr = SecretStr("")
    # --- realtime pipeline and publication (ingest/)
    ivorn_base: str = Field(default="ivo://nufair.example/IceCube",
                            description="Authority and path of the IVORNs of our notices.")
    test_observatories: str = Field(default="nufair-sim", description=(
        "Comma-separated observatories whose events are test/simulation traffic: notices "
        "marked as tests (VOEvent role=test, GCN alert_tense=test), pages bannered, no "
        "collaboration credit"))
    contact_name: str = Field(default="nufair realtime pipeline",
                              description="VOEvent Author contactName")
    contact_email: str | None = Field(default=None, description=(
        "VOEvent Author contactEmail and the OAI-PMH adminEmail"))
    sinks: list[Literal["folder", "webhook", "vtp", "gcn-kafka"]] = Field(
        default=["folder"], description="Where notices are delivered.")
    notices_dir: Path | None = Field(default=None,
                                     description="Folder sink root; unset: data_dir/notices.")
    folder_formats: list[Literal["gcn-json", "voevent", "circular"]] = Field(
        default=["gcn-json", "voevent", "circular"])
    webhook_url: str | None = None
    webhook_secret: SecretStr = SecretStr("")
    webhook_formats: list[Literal["gcn-json", "voevent", "circular"]] = Field(
        default=["gcn-json"])
    webhook_timeout_s: float = 5.0
    subscription_allow_private_hosts: bool = Field(
        default=False, description="Deliver region subscriptions' webhooks to hosts that "
        "resolve to loopback or private addresses (off: refused, against SSRF).")
    vtp_host: str = Field(default="127.0.0.1",
                          description="VOEvent broker (e.g. Comet) receiving authors' events.")
    vtp_port: int = Field(default=8098, description="The broker's VTP receiver port.")
    vtp_timeout_s: float = Field(default=10.0, gt=0)
    gcn_kafka_client_id: str = Field(default="", description="GCN Kafka producer credentials.")
    gcn_kafka_client_secret: SecretStr = SecretStr("")
    gcn_kafka_domain: Literal["gcn.nasa.gov", "test.gcn.nasa.gov", "dev.gcn.nasa.gov"] = Field(
        default="test.gcn.nasa.gov", description="GCN deployment (test until approved).")
    gcn_kafka_topics: dict[Literal["gcn-json", "voevent", "circular"], str] = Field(
        default={"gcn-json": "gcn.notices.icecube.test.gold_bronze_track_alerts"},
        description="Topic of each format sent to GCN Kafka, as JSON.")
    gcn_kafka_timeout_s: float = Field(default=10.0, gt=0)
    # --- broker input: raw events from an AMQP queue (`nufair consume`, ingest/consumer.py)
    amqp_url: SecretStr = Field(default=SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F"),
                                description="RabbitMQ (AMQP 0-9-1) URL of the raw-event queue.")
    amqp_queue: str = "nufair.raw-events"
    amqp_dead_letter_queue: str | None = Field(
        default=None, description="Refused messages (reason in headers); unset: <queue>.dead.")
    amqp_prefetch: int = Field(default=10, ge=1)
    dispatcher_enabled: bool = Field(default=True, description="Deliver in the server process.")
    dispatcher_poll_s: float = Field(default=0.5, gt=0)
    dispatcher_lease_s: float = Field(default=60.0, gt=0)
    dispatcher_backoff_base_s: float = Field(default=1.0, gt=0)
    dispatcher_backoff_max_s: float = Field(default=300.0, gt=0)
    ready_notice_age_s: float = Field(
        default=300.0, gt=0, description="/readyz answers 503 when a notice has been due "
        "for longer (the dispatcher does not keep up, or is stuck).")
    dispatcher_max_attempts: int = Field(
        default=30, ge=0,
        description="Failed attempts after which a notice is given up (state failed; "
                    "retry or replay it); 0: never. With the default backoff, 30 attempts "
                    "span about two hours.")
    # --- scans (ingest/scanning/runner.py)
    scan_nsides: str = Field(default="8:0,64:12,512:16", pattern=r"^\d+(:\d+)?(,\d+(:\d+)?)*$",
                             description="Default scan resolutions, nside:n_refine,...")
    scan_seeds: int = Field(default=7, ge=1, description="Vertex seeds per pixel (first level).")
    scan_iterations: int = Field(default=12, ge=1,
                                 description="Newton iterations per seed (first level).")
    scan_runner_enabled: bool = Field(default=True, description="Run scans in the server.")
    scan_general_slots: int = Field(
        default=1, ge=1, description="Runner slots for any scan; one more is realtime-only.")
    scan_poll_s: float = Field(default=0.5, gt=0)
    scan_heartbeat_s: float = Field(default=2.0, gt=0)
    scan_stale_s: float = Field(default=30.0, gt=0,
                                description="Heartbeat age after which a scan is re-claimed.")
    scan_snapshot_s: float = Field(default=1.0, ge=0,
                                   description="Shortest interval between partial snapshots.")
    scan_max_claims: int = Field(
        default=5, ge=1,
        description="Claims a scan may have (restarts, re-claims of a stalled runner's scan); "
                    "then it fails with the reason.")
    scan_infra_retries: int = Field(
        default=3, ge=0, description="New tries of a realtime scan that failed on the "
        "infrastructure (Dask unreachable, connection lost, timeout) before it is failed.")
    scan_infra_backoff_s: float = Field(
        default=5.0, gt=0, description="Delay before the first new try; doubled each time.")
    scan_infra_backoff_max_s: float = Field(default=60.0, gt=0,
                                            description="Longest delay between two tries.")
    dask_scheduler: str | None = Field(
        default=None, description="tcp://host:8786; unset: a LocalCluster started lazily.")
    dask_workers: int = Field(default=2, ge=1, description="Workers of the LocalCluster.")
    dask_processes: bool = Field(default=False,
                                 description="LocalCluster workers as processes (else threads).")

    @field_validator("scan_nsides")
    @classmethod
    def _check_nsides(cls, text: str) -> str:
        """The scan's own rules (powers of two, increasing, bounded), checked at start-up
        rather than at the first alert."""
        from catalog.errors import InvalidInput
        from ingest.scanning.config import config_from
        from reco.scan_config import ScanConfig

        try:
            config_from(ScanConfig(), text)
        except InvalidInput as exc:
            raise ValueError(str(exc).removeprefix("nsides: ")) from None
        return text

    @field_validator("sky_hips_url")
    @classmethod
    def _check_sky_hips_url(cls, url: str | None) -> str | None:
        if not url or not url.strip():
            return None
        scheme, sep, rest = url.strip().partition("://")
        if scheme not in ("http", "https") or not sep or not rest.split("/")[0]:
            raise ValueError(f"sky_hips_url {url!r}: expected http(s)://host/path of a HiPS")
        return url.strip().rstrip("/")

    @field_validator("artifacts_url")
    @classmethod
    def _check_artifacts_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme or not rest.strip("/"):
            raise ValueError(f"artifacts_url {url!r}: expected <protocol>://<location>")
        if scheme == "file" and (not rest.startswith("/") or "%" in rest):
            # fsspec reads file://host/... as a relative path and never percent-decodes.
            raise ValueError(f"artifacts_url {url!r}: write file:///absolute/path, unescaped")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check_tokens(self) -> Settings:
        for digest, scopes in self.tokens.items():
            bad = set(scopes) - set(SCOPES)
            if bad:
                raise ValueError(f"token {digest[:8]}…: unknown scopes {sorted(bad)}")
        if self.environment != "development" and hash_token(DEV_TOKEN) in self.tokens:
            raise ValueError("the development token is refused outside development")
        return self

    @model_validator(mode="after")
    def _check_production_secrets(self) -> Settings:
        """In production, a configured feature must have its secret: no empty credentials."""
        if self.environment != "production":
            return self
        missing = [name for name, needed, secret in (
            ("NUFAIR_WEBHOOK_SECRET", "webhook" in self.sinks, self.webhook_secret),
            ("NUFAIR_DATACITE_PASSWORD", self.pid_provider == "datacite",
             self.datacite_password),
            ("NUFAIR_GCN_KAFKA_CLIENT_SECRET", "gcn-kafka" in self.sinks,
             self.gcn_kafka_client_secret),
        ) if needed and not secret.get_secret_value().strip()]
        if "webhook" in self.sinks and not self.webhook_url:
            missing.append("NUFAIR_WEBHOOK_URL")
        if self.pid_provider == "datacite" and not self.datacite_user.strip():
            missing.append("NUFAIR_DATACITE_USER")
        if missing:
            raise ValueError(f"production needs {', '.join(missing)} for the configured "
                             "features (empty values are refused)")
        return self

    def artifacts_file_root(self) -> Path | None:
        """The local folder of a ``file://`` artifacts URL; None for other URLs or none.

        The path is taken as written, as fsspec does (the validator refuses ``%``).

        >>> Settings(artifacts_url="file:///srv/nufair-artifacts/").artifacts_file_root()
        PosixPath('/srv/nufair-artifacts')
        >>> Settings(artifacts_url="s3://bucket/prefix").artifacts_file_root() is None
        True
        """
        url = self.artifacts_url
        if url is None or not url.startswith("file://"):
            return None
        return Path(url.removeprefix("file://"))

    def token_scopes(self) -> dict[str, frozenset[str]]:
        """Hashed token → scopes.

        In development with no token configured (neither ``NUFAIR_TOKENS`` nor a tokens
        file) the development token has every scope; once any token is configured it is
        ignored. Outside development it never counts (the validator refuses it here, and
        the token table refuses a tokens file that holds it).
        """
        dev = hash_token(DEV_TOKEN)
        table = {digest: frozenset(scopes) for digest, scopes in self.tokens.items()
                 if digest != dev}
        if self.environment == "development" and not self.tokens and self.tokens_file is None:
            table[dev] = frozenset(SCOPES)
        return table
