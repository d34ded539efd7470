"""What the ingress routes share, built once per process by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.rate_limits import RedisRateLimiter
from ingress.ingest import IngestPipeline
from runtime.bootstrap import IngressDeps
from runtime.settings import Settings


@dataclass(frozen=True)
class IngressState:
    deps: IngressDeps
    pipeline: IngestPipeline
    app_secrets: tuple[str, ...]

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    @property
    def limiter(self) -> RedisRateLimiter | None:
        return self.deps.limiter
