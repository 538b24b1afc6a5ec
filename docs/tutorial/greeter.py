"""The tutorial's first app: a greeting, set up once, served to every connection."""

from warmwire import runner


class Greeter(runner.App, app_id="tutorial/greeter"):
    def setup(self) -> None:
        # Runs once per runner, before the first connection: load your model here.
        self.greeting = "Hello"

    @runner.realtime("/realtime", buffering=2)
    def greet(self, inp: dict) -> dict:
        # A plain (blocking) handler runs in a worker thread; one input, one output.
        return {"text": f"{self.greeting}, {inp['name']}!"}
