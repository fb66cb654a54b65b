"""Python source for `python -c` scripts that start a served app in a fresh interpreter.

`START_UP` defines `start_up(app)`: the app's lifespan start-up, driven as uvicorn drives it
until the app reports it complete (`mastery.serve` prepares the function there).
"""

START_UP = """
import asyncio

def start_up(app):
    async def start():
        messages = [{"type": "lifespan.startup"}]
        sent = asyncio.Queue()
        async def receive():
            return messages.pop(0) if messages else await asyncio.Event().wait()
        lifespan = asyncio.ensure_future(app({"type": "lifespan"}, receive, sent.put))
        message = await sent.get()
        assert message["type"] == "lifespan.startup.complete", message
        lifespan.cancel()

    asyncio.run(start())
"""
