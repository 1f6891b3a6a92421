"""Captured output with a cap: the first N bytes of each stream are kept, the rest only counted.

The runner's handshake and verdict lines travel on stdout too; they are taken out here,
so `stdout` holds exactly what the program wrote (up to the cap).
"""

from __future__ import annotations

TAIL = 4096  # the verdict is the last line the runner writes; a later write by a stray thread is short


class Capture:
    def __init__(self, keep: int, ceiling: int):
        self.keep = keep
        self.ceiling = ceiling
        self.head = {"stdout": bytearray(), "stderr": bytearray()}
        self.tail = bytearray()  # end of stdout, where the verdict is
        self.total = 0

    def add(self, stream: str, data: bytes) -> None:
        head = self.head[stream]
        room = self.keep + (TAIL if stream == "stdout" else 0) - len(head)  # the handshake line fits too
        if room > 0:
            head += data[:room]
        if stream == "stdout":
            self.tail = (self.tail + data)[-TAIL:]
        self.total += len(data)

    @property
    def exceeded(self) -> bool:
        """More output in all than the ceiling: the run is stopped as a resource_limit."""
        return self.total > self.ceiling

    def started(self, nonce: str) -> bool:
        return self.head["stdout"].startswith(f"{nonce} start\n".encode())

    def verdict(self, nonce: str) -> tuple[str, str] | None:
        """(outcome, message) from the runner's last line, or None when it never wrote one."""
        mark = f"\n{nonce} ".encode()
        at = self.tail.rfind(mark)
        if at < 0:
            return None
        line = self.tail[at + len(mark):].split(b"\n", 1)[0].decode("utf-8", "replace")
        outcome, _, message = line.partition(" ")
        return outcome, message.strip()

    def text(self, stream: str, nonce: str) -> str:
        data = bytes(self.head[stream])
        if stream == "stdout":
            handshake = f"{nonce} start\n".encode()
            if data.startswith(handshake):
                data = data[len(handshake):]
            at = data.rfind(f"\n{nonce} ".encode())
            if at >= 0:
                data = data[:at]
            data = data[:self.keep]
        return data.decode("utf-8", "replace")
