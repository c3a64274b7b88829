"""A child that fails transiently and then sleeps a long backoff: the parent kills it mid-sleep."""

from __future__ import annotations

import plait
from tests.programs import Chain4, echo_answer


class Down(plait.ScriptedLM):
    """Always a transient failure."""

    async def acall(self, request):
        self.calls += 1
        raise plait.LMError("503 service unavailable", transient=True)


def main(store: str, out_file: str) -> None:
    def announce(event) -> None:
        if isinstance(event, plait.events.RunStarted):
            with open(out_file, "a") as out:
                out.write(f"RUN {event.run_id}\n")

    plait.compile(Chain4()).run([{"question": "q0"}], store=store, lm=Down(echo_answer), on_event=announce,
                                progress=False, retry=plait.RetryPolicy(initial=3600, maximum=3600, jitter="none"))
