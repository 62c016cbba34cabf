"""Request deadlines: a forward pass that runs past its time limit stops at the next layer."""

import time
from dataclasses import dataclass

from ..errors import InferenceTimeout, LoadTimeout


@dataclass(frozen=True)
class Deadline:
    seconds: float  # the limit, for the message
    at: float  # on the time.monotonic() clock
    set_by: str = "LAYERSERVE_INFER_TIMEOUT"  # what set the limit, for the message

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(seconds, time.monotonic() + seconds)

    def check(self, next_layer: str) -> None:
        """Between two layers: a thread cannot be interrupted, so this is where a pass can stop."""
        if time.monotonic() > self.at:
            raise InferenceTimeout(self.seconds, next_layer, self.set_by)


class LoadDeadline(Deadline):
    """A model load's: checked between the steps of reading and building, it stops the load
    that was abandoned at the next step."""

    def check(self, where: str) -> None:
        if time.monotonic() > self.at:
            raise LoadTimeout(self.seconds, where)


def latest(deadlines: list["Deadline | None"]) -> "Deadline | None":
    """The deadline of a merged batch: it stops only when every request in it is out of time."""
    if any(deadline is None for deadline in deadlines):
        return None
    return max(deadlines, key=lambda deadline: deadline.at)
