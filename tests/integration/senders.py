"""A message sender of the kind a bank plugs in (`message_sender = "tests.integration.senders:to_file"`):
it writes each message as a JSON line to the file named by TILLIT_TEST_SENDER_FILE."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from tillit.signer.messages import Message


class FileSender:
    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, message: Message) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(dataclasses.asdict(message), ensure_ascii=False) + "\n")


def to_file(settings: Any) -> FileSender:
    return FileSender(os.environ["TILLIT_TEST_SENDER_FILE"])
