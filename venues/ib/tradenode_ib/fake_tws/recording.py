"""Frames recorded from a real TWS (server version 173), replayed verbatim.

The recording maps a request (by its message id) to the frames TWS answered with. A request id
in the recording (account summary's 9000) is swapped for the live request's id, so the real
client files the answer under its own request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RECORDED_FRAMES = Path(__file__).parent / "data" / "tws_interactions.yaml"
MANAGED_ACCOUNTS_REQUEST = 17


@dataclass(frozen=True, slots=True)
class RecordedExchange:
    name: str
    request_id_at: int | None
    responses: tuple[tuple[tuple[str, ...], int | None], ...]
    """Each response's fields and the index of its request id field (if it has one)."""

    def replay(self, live_request: list[str]) -> list[list[str]]:
        live_id = None
        if self.request_id_at is not None and self.request_id_at < len(live_request):
            live_id = live_request[self.request_id_at]
        frames = []
        for fields, id_at in self.responses:
            frame = list(fields)
            if live_id is not None and id_at is not None:
                frame[id_at] = live_id
            frames.append(frame)
        return frames


@dataclass(frozen=True, slots=True)
class Recording:
    server_version: int
    exchanges: dict[int, RecordedExchange]

    @classmethod
    def load(cls, path: Path = RECORDED_FRAMES) -> Recording:
        """Read a rust-ibapi ``tws_interactions.yaml`` (needs PyYAML, imported only here)."""
        import yaml

        document = yaml.safe_load(path.read_text())
        exchanges: dict[int, RecordedExchange] = {}
        for interaction in document["interactions"]:
            request = _fields(interaction["request"]["raw"])
            exchanges[int(request[0])] = RecordedExchange(
                name=interaction["name"],
                request_id_at=_index(interaction["request"]),
                responses=tuple(
                    (tuple(_fields(response["raw"])), _index(response))
                    for response in interaction["responses"]
                ),
            )
        return cls(int(document["header"]["server_version"]), exchanges)

    def answers(self, fields: list[str]) -> list[list[str]] | None:
        """The recorded answer to a live request, or None if the recording has no such request."""
        exchange = self.exchanges.get(int(fields[0]))
        return exchange.replay(fields) if exchange else None

    @property
    def account(self) -> str:
        """The (sanitised) account the recording was made with, from its managedAccounts frame."""
        exchange = self.exchanges[MANAGED_ACCOUNTS_REQUEST]
        return exchange.responses[0][0][2].split(",")[0]


def _fields(raw: str) -> list[str]:
    fields = raw.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def _index(message: dict) -> int | None:
    names = [f["name"] for f in message.get("fields", [])]
    return names.index("request_id") if "request_id" in names else None
