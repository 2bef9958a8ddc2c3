"""What one update did: counts, errors, time and memory, as ``git coderag index --json`` prints them."""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

ERROR_EXAMPLES = 10
"""Failed and skipped files named in a report (the counts cover them all)."""


@dataclass
class UpdateReport:
    """What an update did (``git coderag index --json`` prints it)."""

    target: str = "HEAD"
    commit: str | None = None
    full: bool = False
    rebuilt_because: str = ""
    files_added: int = 0
    files_removed: int = 0
    files_unchanged: int = 0
    files_skipped: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    chunks_cached: int = 0
    bytes_read: int = 0
    workers: int = 1
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: list[dict[str, str]] = field(default_factory=list)
    skipped_examples: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of the update (``total``) and busy time per stage, summed over processes."""
    cpu_seconds: float = 0.0
    """CPU time of this process and its finished children (workers, git) so far."""
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    """Peak resident memory of this process (``writer``) and of the largest worker (``workers``,
    pages shared with the writer since the fork included)."""
    generation: int = 0
    service: dict[str, int] = field(default_factory=dict)
    """For an embedder that calls a service: requests, retries, tokens (as the server counts them), chars."""

    @property
    def files_failed(self) -> int:
        return sum(self.errors.values())

    def rates(self) -> dict[str, object]:
        """Throughput over the update's wall time, and each stage's share of the busy time."""
        wall = self.seconds.get("total", 0.0) or 1e-9
        busy = {k: v for k, v in self.seconds.items() if k != "total"}
        busy_total = sum(busy.values()) or 1e-9
        return {
            "files_per_s": round((self.files_added + self.files_skipped + self.files_failed) / wall, 1),
            "chunks_per_s": round(self.chunks_added / wall, 1),
            "mb_per_s": round(self.bytes_read / wall / 1e6, 2),
            "stage_share": {k: round(v / busy_total, 3) for k, v in busy.items()},
        }

    def to_dict(self) -> dict:
        return {**self.__dict__, "stats": self.rates()}
