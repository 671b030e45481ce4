"""Settings of the ``herald`` operator command: the kit's ``HERALD_*`` variables plus the management API."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from pydantic import Field

from herald.kit.settings import ServiceSettings


class OperatorSettings(ServiceSettings):
    """``HERALD_AMQP_URL`` says which broker and vhost; ``HERALD_MANAGEMENT_URL`` where its management API is.

    The management API is only used to discover parking queues; without it, the command falls back to the
    parking queues of the known Herald consumers.
    """

    service_name: str = "operator"
    management_url: str | None = Field(
        default=None, description="RabbitMQ management API base URL; default: the AMQP host on port 15672."
    )
    operation_timeout_seconds: float = Field(default=10.0, gt=0, description="Bound on one broker operation.")

    @property
    def vhost(self) -> str:
        """The vhost named by the AMQP URL's path (``/`` when the path is empty)."""
        path = urlsplit(self.amqp_url.get_secret_value()).path
        return unquote(path[1:]) if len(path) > 1 else "/"

    def management_base(self) -> str:
        """Where the management API answers, without a trailing slash."""
        if self.management_url:
            return self.management_url.rstrip("/")
        host = urlsplit(self.amqp_url.get_secret_value()).hostname or "127.0.0.1"
        return f"http://{host}:15672"

    def management_auth(self) -> tuple[str, str]:
        """The AMQP URL's user and password, which the management API accepts too."""
        parts = urlsplit(self.amqp_url.get_secret_value())
        return unquote(parts.username or "guest"), unquote(parts.password or "guest")
